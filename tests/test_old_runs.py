"""Runs trained by older code resume and serve: tests/data/runs/ holds two tiny
runs that the code at 14c74ed trained for 3 iterations (its FLAGS.json, model.json
and checkpoint, made with the commands below on the data of
tests/same_numbers.make_data), before the trainer was recomposed."""

import os
import shutil

import numpy as np
import pytest

import make
import same_numbers
from dcgan_tf import app

RUNS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "runs")
TINY = dict(z_dim=4, gf_dim=2, df_dim=2, gfc_dim=8, dfc_dim=8)
RUNS = {
    "mnist_dcgan_14c74ed": dict(dataset="mnist", input_height=28, output_height=28, **TINY),
    "faces_wgan_gp_14c74ed": dict(dataset="faces", input_fname_pattern="*.png", input_height=20,
                                  output_height=16, crop=True, loss="wgan_gp", n_critic=2,
                                  **TINY),
}


def config_of(name, root, **changes):
    fields = dict(RUNS[name], data_dir=str(root / "data"), out_dir=str(root / "out"),
                  out_name=name, batch_size=8, train_size=24, seed=0, sample_freq=1000,
                  ckpt_freq=1000, **changes)
    return make.config(**fields)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_an_older_run_resumes_where_it_stopped_and_serves(tmp_path, name):
    same_numbers.make_data(str(tmp_path / "data"))
    shutil.copytree(os.path.join(RUNS_DIR, name), tmp_path / "out" / name)
    lines = []
    app.run(config_of(name, tmp_path, train=True, epoch=2), log=lines.append)
    assert any("resuming after iteration 3 (epoch 1, batch 0)" in line for line in lines), lines
    assert [int(line[1:9]) for line in lines if " Epoch:" in line] == [4, 5, 6]
    app.run(config_of(name, tmp_path, generate=5), log=lambda line: None)
    with np.load(tmp_path / "out" / name / "samples" / "generated_5.npz") as arrays:
        assert arrays["images"].shape[0] == 5 and np.all(np.isfinite(arrays["images"]))
