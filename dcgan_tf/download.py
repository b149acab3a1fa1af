"""Fetches data sets into the layout main.py reads: <data_dir>/<dataset>/.

Each file is tried from each source in turn (MNIST's original host refuses
downloads today, so mirrors come first), resumed from its partial `.part` file
when a transfer drops and the server honours Range requests, checked against
its published MD5 where one exists, and renamed into place only when complete.
Archives are extracted into a temporary folder that is renamed into place
last: nothing half-written ever looks complete. Two processes fetching the
same thing at once (two trainings started together on a missing MNIST) take
turns: the second waits, saying so, and finds the first's file.
"""

import contextlib
import hashlib
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile

from dcgan_tf import files

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
IDX_SOURCES = {
    "mnist": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
              "https://storage.googleapis.com/cvdf-datasets/mnist/",
              "http://yann.lecun.com/exdb/mnist/"],
    "fashion_mnist": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
}
IDX_FILES = {"mnist": MNIST_FILES, "fashion_mnist": FASHION_MNIST_FILES}
# The original's celebA: the aligned-and-cropped JPEGs on Google Drive.
CELEBA_ZIP = "img_align_celeba.zip"
CELEBA_MD5 = "00d2c5bc6d35e252742224ab0c1e8fcb"
CELEBA_DRIVE_ID = "0B7EVK8r0v71pZjFTYXZWM3FlRnM"
CELEBA_URLS = [
    f"https://drive.usercontent.google.com/download?export=download&confirm=t&id={CELEBA_DRIVE_ID}",
    f"https://docs.google.com/uc?export=download&confirm=t&id={CELEBA_DRIVE_ID}",
]
# The original's LSUN: one scene category's LMDB (no checksums are published).
LSUN_URL = "http://dl.yf.io/lsun/scenes/{category}_{split}_lmdb.zip"
# The scene categories LSUN publishes (its download.py's list).
LSUN_CATEGORIES = ("bedroom", "bridge", "church_outdoor", "classroom", "conference_room",
                   "dining_room", "kitchen", "living_room", "restaurant", "tower")
DATASETS = ("mnist", "fashion_mnist", "celebA", "lsun")
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
        length = response.headers.get("Content-Length")
        total = int(length) + done if length is not None else None
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


class _ProgressBar:
    """One line per transfer: `name [#####.....]  12.3/45.6 MiB`."""

    def __init__(self, name, stream):
        self.name, self.stream, self.shown = name, stream, False

    def __call__(self, done, total):
        if total:
            filled = int(30 * done / total)
            self.stream.write(f"\r  {self.name} [{'#' * filled}{'.' * (30 - filled)}]"
                              f" {done / 2**20:7.1f}/{total / 2**20:.1f} MiB")
        else:
            self.stream.write(f"\r  {self.name} {done / 2**20:7.1f} MiB")
        self.stream.flush()
        self.shown = True

    def end(self):
        if self.shown:
            self.stream.write("\n")


@contextlib.contextmanager
def folder_for(directory):
    """Makes `directory` (and the folders above it that are missing) for the
    block, and removes those it made again where the block fails and leaves
    them empty: a download that failed (offline) leaves no empty data/mnist/."""
    made = []
    path = os.path.abspath(directory)
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        made.append(path)
        path = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    try:
        yield directory
    except BaseException:
        for path in made:  # the deepest first; one holding anything stays, with those above
            try:
                os.rmdir(path)
            except OSError:
                break
        raise


def in_turn(path, stream):
    """Holds `path` while this process fetches or extracts it; another process
    doing the same waits for it (files.in_turn), saying so on `stream`."""
    def say_waiting(holder):
        stream.write(f" [*] {holder} is fetching {path}; waiting for it to finish\n")
        stream.flush()

    return files.in_turn(path, say_waiting)


def download_file(name, urls, directory, md5=None, stream=sys.stderr, attempts_per_url=2,
                  manual_hint=""):
    """Puts `name` into `directory` from the first URL that delivers it whole
    (and with the right MD5, when one is given); returns its path. A file
    already there and correct is kept."""
    path = os.path.join(directory, name)
    if os.path.exists(path) and (md5 is None or md5_of(path) == md5):
        return path  # kept, with no lock taken (the folder may be read-only)
    with folder_for(directory), in_turn(path, stream):
        return _download_file(path, urls, md5, stream, attempts_per_url, manual_hint)


def _download_file(path, urls, md5, stream, attempts_per_url, manual_hint):
    directory, name = os.path.split(path)
    there = md5_of(path) if os.path.exists(path) and md5 is not None else None
    if os.path.exists(path) and there in (None, md5):
        return path
    part_path = path + ".part"
    errors = []
    for url in urls:
        for _ in range(attempts_per_url):  # a second try resumes a dropped transfer
            size_before = os.path.getsize(part_path) if os.path.exists(part_path) else 0
            progress = _ProgressBar(name, stream)
            try:
                _fetch(url, part_path, progress)
            except (urllib.error.URLError, OSError, ValueError) as error:
                progress.end()
                errors.append(f"{url}: {getattr(error, 'reason', error)}")
                size_after = os.path.getsize(part_path) if os.path.exists(part_path) else 0
                if size_after <= size_before:
                    break  # refused, unknown host, 404: retrying won't help
                continue
            progress.end()
            actual = md5_of(part_path) if md5 else None
            if actual == md5:
                os.replace(part_path, path)
                if there is not None:
                    stream.write(f" [*] Replaced {path} (MD5 {there}) with the published file"
                                 f" (MD5 {md5})\n")
                return path
            errors.append(f"{url}: MD5 {actual}, expected {md5} (corrupt; discarded)")
            os.remove(part_path)
            break  # the same URL would serve the same bytes
    why = ""
    if there is not None:
        why = (f" ({path} is there, but its MD5 is {there}, not the published {md5}: another"
               " version of the file, or one cut short; it is left as it was)")
    raise DownloadError(
        f"Could not download {name}{why}:\n  " + "\n  ".join(errors) +
        f"\nDownload it by hand{manual_hint} and put it in {directory}/ as {name}"
        " (nothing incomplete was left under that name).")


def download_idx(dataset, data_dir, stream=sys.stderr, sources=None):
    """MNIST or Fashion-MNIST's four .gz files into <data_dir>/<dataset>/."""
    directory = os.path.join(data_dir, dataset)
    sources = sources or IDX_SOURCES[dataset]
    for name, md5 in IDX_FILES[dataset].items():
        try:
            download_file(name, [source + name for source in sources], directory, md5, stream,
                          manual_hint=f" from one of {', '.join(sources)}")
        except DownloadError as error:
            raise DownloadError(
                f"{error}\n{dataset} needs all of {', '.join(IDX_FILES[dataset])} in"
                f" {directory}/ (plain or .gz), each as published; is this machine"
                " offline?") from error
    return directory


def _extract_zip_into(zip_path, target):
    """Extracts `zip_path` so that its single top folder's contents become `target`,
    all or nothing."""
    staging = target + ".part"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(staging)
    except zipfile.BadZipFile as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise DownloadError(f"{zip_path} is not a valid zip ({error}); delete it and download"
                            " again.") from error
    entries = os.listdir(staging)
    source = os.path.join(staging, entries[0]) if len(entries) == 1 and os.path.isdir(
        os.path.join(staging, entries[0])) else staging
    os.replace(source, target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def download_celeba(data_dir, stream=sys.stderr, urls=None, md5=CELEBA_MD5):
    """The original's celebA: img_align_celeba.zip, extracted to <data_dir>/celebA/."""
    target = os.path.join(data_dir, "celebA")
    if os.path.isdir(target):
        stream.write(f"Found {target} - skip\n")
        return target
    with folder_for(data_dir), in_turn(target, stream):
        if os.path.isdir(target):  # another process made it meanwhile
            return target
        zip_path = download_file(CELEBA_ZIP, urls or CELEBA_URLS, data_dir, md5, stream,
                                 manual_hint=" from the CelebA site (Align&Cropped Images)")
        _extract_zip_into(zip_path, target)
        os.remove(zip_path)
    return target


def export_lmdb_images(lmdb_dir, target):
    """Writes every image of an LSUN LMDB as a file (its bytes unchanged: webp or
    JPEG) into `target`, all or nothing. Needs the `lmdb` package."""
    try:
        import lmdb  # noqa: PLC0415 (only LSUN needs it)
    except ImportError as error:
        raise DownloadError("Reading LSUN's LMDB needs the lmdb package:"
                            " pip install lmdb (or pip install -e \".[lsun]\").") from error
    staging = target + ".part"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    environment = lmdb.open(lmdb_dir, readonly=True, lock=False, readahead=False)
    with environment.begin() as transaction:
        for key, value in transaction.cursor():
            suffix = ".webp" if value[8:12] == b"WEBP" else ".jpg"
            with open(os.path.join(staging, key.decode() + suffix), "wb") as f:
                f.write(value)
    environment.close()
    os.replace(staging, target)
    return target


def download_lsun(data_dir, category="bedroom", split="train", stream=sys.stderr, url=None):
    """The original's LSUN: <category>_<split>_lmdb.zip, its images exported to
    <data_dir>/lsun/<category>/ (train with --dataset lsun
    --input_fname_pattern "<category>/*.webp")."""
    directory = os.path.join(data_dir, "lsun")
    target = os.path.join(directory, category)
    if os.path.isdir(target):
        stream.write(f"Found {target} - skip\n")
        return target
    name = f"{category}_{split}_lmdb.zip"
    with folder_for(directory), in_turn(target, stream):
        if os.path.isdir(target):  # another process made it meanwhile
            return target
        zip_path = download_file(name, [url or LSUN_URL.format(category=category, split=split)],
                                 directory, None, stream, manual_hint=" from the LSUN site")
        lmdb_dir = _extract_zip_into(zip_path,
                                     os.path.join(directory, f"{category}_{split}_lmdb"))
        export_lmdb_images(lmdb_dir, target)
        shutil.rmtree(lmdb_dir)
        os.remove(zip_path)
    return target


def download_dataset(dataset, data_dir, stream=sys.stderr, category="bedroom"):
    """Downloads `dataset` (one of DATASETS) under `data_dir`; returns its folder."""
    if dataset in IDX_FILES:
        return download_idx(dataset, data_dir, stream)
    if dataset == "celebA":
        return download_celeba(data_dir, stream)
    if dataset == "lsun":
        return download_lsun(data_dir, category, stream=stream)
    raise ValueError(f"Unknown data set {dataset!r}; this downloads {', '.join(DATASETS)}.")
