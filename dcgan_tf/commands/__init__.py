"""The run modes main.py dispatches to (dcgan_tf.app): training (`train`), and
test mode's actions on a trained run: its sample grid, export, visualizations
and generated images (`sample`), its scores (`evaluate`), and an original TF1
run beside it (`compare`)."""
