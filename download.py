"""Downloads data sets into ./data (or --data_dir), as the original's download.py.

    python download.py mnist celebA
    python download.py fashion_mnist lsun --category bedroom
"""

import argparse
import sys

from dcgan_tf import download


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="+", choices=download.DATASETS,
                        help="data sets to download")
    parser.add_argument("--data_dir", default="./data", help="where data sets go [./data]")
    parser.add_argument("--category", default="bedroom", choices=download.LSUN_CATEGORIES,
                        help="LSUN scene category [bedroom]")
    args = parser.parse_args(argv)
    try:
        for dataset in args.datasets:
            print(f"{dataset} -> {download.download_dataset(dataset, args.data_dir, category=args.category)}")
    except download.DownloadError as error:
        print(f"[!] {error}", file=sys.stderr)
        return 1
    except OSError as error:  # --data_dir is a file, unwritable, or the disk is full
        print(f"[!] Cannot write to {error.filename or args.data_dir}: {error.strerror}. Pass a"
              " --data_dir that is a writable folder (it is created if missing).",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(" [*] Interrupted: completed files are in place; a partial download stays as"
              " its .part file and resumes when you rerun the command.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
