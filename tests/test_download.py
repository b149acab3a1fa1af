"""download.py against a local HTTP server on 127.0.0.1 serving files made here."""

import hashlib
import io
import os
import zipfile

import numpy as np
import pytest

import fakes
from helpers import fetched_twice_at_once
from dcgan_tf import app
from dcgan_tf import config as config_lib
from dcgan_tf import data
from dcgan_tf import download


def md5(body):
    return hashlib.md5(body).hexdigest()


BODY = os.urandom(300_000)


def test_good_file_is_downloaded_and_verified(server, tmp_path):
    server.routes["/a/file.gz"] = ("ok", BODY)
    path = download.download_file("file.gz", [server.url + "/a/file.gz"], str(tmp_path),
                                  md5(BODY), stream=io.StringIO())
    assert open(path, "rb").read() == BODY
    assert os.listdir(tmp_path) == ["file.gz"]


def test_dropped_connection_is_resumed(server, tmp_path):
    server.routes["/file.gz"] = ("drop_once", BODY)
    progress = io.StringIO()
    path = download.download_file("file.gz", [server.url + "/file.gz"], str(tmp_path),
                                  md5(BODY), stream=progress)
    assert open(path, "rb").read() == BODY
    assert server.requests == [("/file.gz", None), ("/file.gz", f"bytes={len(BODY) // 2}-")]
    assert "MiB" in progress.getvalue() and "[####" in progress.getvalue()


def test_refused_and_corrupt_sources_fall_back_to_the_next(server, refused_url, tmp_path):
    server.routes["/bad/file.gz"] = ("corrupt", BODY)
    server.routes["/good/file.gz"] = ("ok", BODY)
    urls = [refused_url + "file.gz", server.url + "/bad/file.gz", server.url + "/good/file.gz"]
    path = download.download_file("file.gz", urls, str(tmp_path), md5(BODY),
                                  stream=io.StringIO())
    assert open(path, "rb").read() == BODY


def test_all_sources_failing_says_what_to_do_and_leaves_nothing_that_looks_complete(
        server, refused_url, tmp_path):
    server.routes["/file.gz"] = ("corrupt", BODY)
    with pytest.raises(download.DownloadError) as raised:
        download.download_file("file.gz", [refused_url + "file.gz", server.url + "/file.gz"],
                               str(tmp_path), md5(BODY), stream=io.StringIO(),
                               manual_hint=" from the mirror")
    message = str(raised.value)
    assert "Connection refused" in message and "MD5" in message
    assert "Download it by hand from the mirror and put it in" in message
    assert not os.path.exists(tmp_path / "file.gz")


def test_a_file_there_of_another_checksum_is_named_kept_offline_and_replaced_online(
        server, refused_url, tmp_path):
    """download.py fetches a file whose MD5 is not the published one again; the
    error offline says why it tried (the files are all there), and keeps it."""
    (tmp_path / "file.gz").write_bytes(BODY[:1000])
    with pytest.raises(download.DownloadError) as raised:
        download.download_file("file.gz", [refused_url + "file.gz"], str(tmp_path), md5(BODY),
                               stream=io.StringIO())
    assert (f"Could not download file.gz ({tmp_path / 'file.gz'} is there, but its MD5 is"
            f" {md5(BODY[:1000])}, not the published {md5(BODY)}") in str(raised.value)
    assert (tmp_path / "file.gz").read_bytes() == BODY[:1000]
    server.routes["/file.gz"] = ("ok", BODY)
    said = io.StringIO()
    download.download_file("file.gz", [server.url + "/file.gz"], str(tmp_path), md5(BODY),
                           stream=said)
    assert (tmp_path / "file.gz").read_bytes() == BODY
    assert f"Replaced {tmp_path / 'file.gz'} (MD5 {md5(BODY[:1000])})" in said.getvalue()


def serve_fake_mnist(server, tmp_path, monkeypatch):
    """Serves a small MNIST-format data set and points download.py at it."""
    source = fakes.make_mnist(str(tmp_path / "source"), n_train=60, n_test=20, gz=True)
    checksums = {}
    for name in download.MNIST_FILES:
        body = open(os.path.join(source, name), "rb").read()
        server.routes[f"/mnist/{name}"] = ("ok", body)
        checksums[name] = md5(body)
    monkeypatch.setitem(download.IDX_FILES, "mnist", checksums)
    monkeypatch.setitem(download.IDX_SOURCES, "mnist", [server.url + "/mnist/"])


def test_two_processes_fetching_one_file_take_turns(server, tmp_path):
    """Two trainings started together on a missing MNIST fetch the same files
    into one folder. Writing one .part file together mixed their bytes: one
    failed the MD5 ("corrupt; discarded"), the other's .part vanished under it
    (a traceback). The second now waits for the first and keeps its file."""
    server.routes["/file.gz"] = ("gated", BODY)
    target = tmp_path / "file.gz"
    outcomes, said = fetched_twice_at_once(
        lambda stream: download.download_file("file.gz", [server.url + "/file.gz"],
                                              str(tmp_path), md5(BODY), stream=stream), server)
    assert outcomes == [str(target), str(target)]
    assert f" [*] process {os.getpid()} is fetching {target}; waiting for it to finish" in said[1]
    assert target.read_bytes() == BODY
    assert server.requests == [("/file.gz", None)]  # the second took the first's file
    assert os.listdir(tmp_path) == ["file.gz"]  # no .part, no lock left


def test_two_processes_fetching_celeba_take_turns(server, tmp_path):
    """The same for an archive: the second waits for the first to fetch and
    extract it, then finds the folder (extracting it again at once would have
    removed the first's staging folder under it)."""
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as archive:
        archive.writestr("img_align_celeba/000001.jpg", b"jpeg")
    server.routes["/c.zip"] = ("gated", body.getvalue())
    outcomes, said = fetched_twice_at_once(
        lambda stream: download.download_celeba(str(tmp_path), stream=stream,
                                                 urls=[server.url + "/c.zip"],
                                                 md5=md5(body.getvalue())), server)
    assert outcomes == [str(tmp_path / "celebA")] * 2
    assert "waiting for it to finish" in said[1]
    assert os.listdir(tmp_path / "celebA") == ["000001.jpg"]
    assert os.listdir(tmp_path) == ["celebA"] and len(server.requests) == 1


def test_main_fetches_missing_mnist_and_trains(server, tmp_path, monkeypatch):
    serve_fake_mnist(server, tmp_path, monkeypatch)
    lines = []
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28, train=True,
                               data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"),
                               batch_size=16, epoch=1, z_dim=4, gf_dim=2, df_dim=2,
                               gfc_dim=8, dfc_dim=8, seed=0)
    trainer = app.run(config, log=lines.append)
    assert any("mnist not found" in line and "downloading it" in line for line in lines)
    assert sorted(os.listdir(tmp_path / "data" / "mnist")) == sorted(download.MNIST_FILES)
    assert int(trainer.iteration) == 5  # 80 images, batch 16


def test_a_data_dir_that_is_a_file_is_named_before_anything_is_written(tmp_path, capsys):
    """It stopped with NotADirectoryError's traceback from the download."""
    (tmp_path / "data").write_text("not a folder")
    config = config_lib.Config(dataset="mnist", input_height=28, output_height=28, train=True,
                               data_dir=str(tmp_path / "data"), out_dir=str(tmp_path / "out"))
    with pytest.raises(SystemExit):
        app.run(config, log=lambda line: None)
    assert f"mnist is looked for, and downloaded, in {tmp_path / 'data' / 'mnist'}, and" \
        f" {tmp_path / 'data'} is a file, not a folder. Pass --data_dir the folder that holds" \
        " the data sets' folders (mnist/ in it)." in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_download_cli_offline_message(refused_url, tmp_path, monkeypatch, capsys):
    import download as download_cli  # noqa: PLC0415 (the top-level script)

    monkeypatch.setitem(download.IDX_SOURCES, "mnist", [refused_url])
    assert download_cli.main(["mnist", "--data_dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Could not download train-images-idx3-ubyte.gz" in err
    assert "Download it by hand" in err and str(tmp_path / "mnist") in err
    assert os.listdir(tmp_path) == []  # no empty mnist/ made for nothing


def test_a_failed_download_leaves_no_folder_it_made(refused_url, tmp_path):
    """Offline, main.py's download of MNIST into ./data/mnist once left both
    folders behind, empty."""
    (tmp_path / "cache").mkdir()
    for data_dir, target in ((tmp_path / "data", lambda d: download.download_idx(
            "mnist", str(d), io.StringIO(), sources=[refused_url])),
                             (tmp_path / "cache" / "celeba", lambda d: download.download_celeba(
                                 str(d), io.StringIO(), urls=[refused_url + "c.zip"]))):
        with pytest.raises(download.DownloadError):
            target(data_dir)
        assert not data_dir.exists()
    assert (tmp_path / "cache").is_dir()  # a folder that was there stays


def test_an_lsun_category_it_does_not_publish_is_refused_before_a_download(tmp_path, capsys):
    """It was tried online and failed as a network error."""
    import download as download_cli  # noqa: PLC0415 (the top-level script)

    with pytest.raises(SystemExit):
        download_cli.main(["lsun", "--category", "bedrooms", "--data_dir", str(tmp_path / "d")])
    assert "argument --category: invalid choice: 'bedrooms' (choose from 'bedroom', 'bridge'," \
        in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_celeba_zip_is_verified_and_extracted(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            image = io.BytesIO()
            fakes.Image.fromarray(np.full((20, 16, 3), 40 * i, np.uint8)).save(image, "JPEG")
            archive.writestr(f"img_align_celeba/{i:06d}.jpg", image.getvalue())
    body = buffer.getvalue()
    server.routes["/celeba.zip"] = ("drop_once", body)
    target = download.download_celeba(str(tmp_path), stream=io.StringIO(),
                                      urls=[server.url + "/celeba.zip"], md5=md5(body))
    assert sorted(os.listdir(target)) == ["000000.jpg", "000001.jpg", "000002.jpg"]
    assert sorted(os.listdir(tmp_path)) == ["celebA"]  # zip and staging folder gone
    assert data.load_image_file(os.path.join(target, "000001.jpg"), 3, False, 0, 0, 8, 8).shape \
        == (8, 8, 3)


def test_lsun_lmdb_is_exported_to_an_image_folder(server, tmp_path):
    lmdb = pytest.importorskip("lmdb")
    staging = tmp_path / "build" / "bedroom_train_lmdb"
    staging.parent.mkdir()
    environment = lmdb.open(str(staging), map_size=1 << 24)
    with environment.begin(write=True) as transaction:
        for i, fmt in enumerate(["WEBP", "JPEG"]):
            image = io.BytesIO()
            fakes.Image.fromarray(np.full((12, 12, 3), 60 * i, np.uint8)).save(image, fmt)
            transaction.put(f"key{i}".encode(), image.getvalue())
    environment.close()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in os.listdir(staging):
            archive.write(staging / name, f"bedroom_train_lmdb/{name}")
    server.routes["/bedroom.zip"] = ("ok", buffer.getvalue())
    target = download.download_lsun(str(tmp_path / "data"), "bedroom", stream=io.StringIO(),
                                     url=server.url + "/bedroom.zip")
    assert sorted(os.listdir(target)) == ["key0.webp", "key1.jpg"]
    assert sorted(os.listdir(tmp_path / "data" / "lsun")) == ["bedroom"]
    files, _ = data.list_image_files(str(tmp_path / "data" / "lsun"), "bedroom/*")
    assert [data.load_image_file(f, 3, False, 0, 0, 8, 8).shape for f in files] == [(8, 8, 3)] * 2
