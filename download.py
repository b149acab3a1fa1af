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
    parser.add_argument("--category", default="bedroom", help="LSUN scene category [bedroom]")
    args = parser.parse_args(argv)
    try:
        for dataset in args.datasets:
            print(f"{dataset} -> {download.download_dataset(dataset, args.data_dir, category=args.category)}")
    except download.DownloadError as error:
        print(f"[!] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
