"""Fetches data sets into the layout main.py reads (<data_dir>/<dataset>/).

Each file is tried from each source in turn (MNIST's original host refuses
downloads today, so mirrors come first), resumed from a partial `.part` file
when the server honours Range requests, checked against its published MD5,
and renamed into place only when complete: nothing half-written ever looks
complete.
"""

import hashlib
import os
import sys
import urllib.error
import urllib.request

# Published MD5s of the standard gzipped IDX files.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
SOURCES = {
    "mnist": [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ],
    "fashion_mnist": [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ],
}
FILES = {"mnist": MNIST_FILES, "fashion_mnist": FASHION_MNIST_FILES}
CHUNK_BYTES = 1 << 16
TIMEOUT_SECONDS = 30


class DownloadError(RuntimeError):
    """No source delivered a file; the message says what to fetch by hand."""


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url, part_path, progress):
    """Appends `url`'s bytes to `part_path`, resuming from its current size."""
    done = os.path.getsize(part_path) if os.path.exists(part_path) else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={done}-"} if done else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        if done and response.status != 206:  # the server ignored Range: start over
            done = 0
        total = response.headers.get("Content-Length")
        total = int(total) + done if total is not None else None
        with open(part_path, "ab" if done else "wb") as out:
            while True:
                chunk = response.read(CHUNK_BYTES)
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                progress(done, total)
    if total is not None and done < total:
        raise urllib.error.URLError(f"connection closed after {done} of {total} bytes")


def _progress_printer(name, stream):
    def progress(done, total):
        if total:
            width = 30
            filled = int(width * done / total)
            stream.write(f"\r  {name} [{'#' * filled}{'.' * (width - filled)}]"
                         f" {done / 2**20:6.1f}/{total / 2**20:.1f} MiB")
        else:
            stream.write(f"\r  {name} {done / 2**20:6.1f} MiB")
        stream.flush()
    return progress


def download_file(name, md5, sources, directory, stream=sys.stderr, attempts_per_source=2):
    """Puts `name` into `directory` from the first source that delivers it whole
    with the right MD5; returns its path. A file already there and correct is kept."""
    path = os.path.join(directory, name)
    if os.path.exists(path) and md5_of(path) == md5:
        return path
    os.makedirs(directory, exist_ok=True)
    part_path = path + ".part"
    errors = []
    for source in sources:
        url = source + name
        for _ in range(attempts_per_source):  # a second try resumes a dropped transfer
            try:
                _fetch(url, part_path, _progress_printer(name, stream))
            except (urllib.error.URLError, OSError, ValueError) as error:
                errors.append(f"{url}: {getattr(error, 'reason', error)}")
                stream.write("\n")
                continue
            stream.write("\n")
            actual = md5_of(part_path)
            if actual == md5:
                os.replace(part_path, path)
                return path
            errors.append(f"{url}: MD5 {actual}, expected {md5} (corrupt; discarded)")
            os.remove(part_path)
    raise DownloadError(
        f"Could not download {name}:\n  " + "\n  ".join(errors) +
        f"\nDownload it by hand from one of {', '.join(sources)} and put it in {directory}/"
        " (the .gz file as it is).")


def download_dataset(dataset, data_dir, stream=sys.stderr, sources=None):
    """Downloads all files of `dataset` ('mnist' or 'fashion_mnist') into
    <data_dir>/<dataset>/; returns that folder."""
    if dataset not in FILES:
        raise ValueError(f"Unknown data set {dataset!r}; this downloads {', '.join(FILES)}.")
    directory = os.path.join(data_dir, dataset)
    for name, md5 in FILES[dataset].items():
        download_file(name, md5, sources or SOURCES[dataset], directory, stream)
    return directory
