"""Every system computes the numbers it computed before the trainer was
recomposed (tests/same_numbers.py records them; see its docstring).

On the CPU that recorded the snapshot every number must be equal, bit for bit:
the same kernels on the same inputs in the same order give the same floats.
On another CPU the kernels sum in other orders, and Adam turns last-bit
differences of near-zero gradients into steps of up to the learning rate, so
no tolerance on the numbers would be honest there: what cannot depend on
rounding is compared instead (each iteration's logged tags, the saved
checkpoint's keys, dtypes and shapes: the contract an older run resumes by),
and the case is then reported as skipped, saying how to record that CPU's file.
The full list of cases runs with -m slow; CI runs one case per schedule,
optimizer and kind of network."""

import glob
import json
import os

import pytest

import same_numbers

SNAPSHOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "same_numbers")
# One per schedule branch, optimizer and network: carpedm20's shared-G(z)
# iteration with TF1's Adam, conditional; the critic schedule with the penalty,
# layer norm and G's turn twice, on an image folder; the family's generator-first
# conv nets with two heads and the scripts' sample pass; WGAN's clipped RMSprop
# critic; drawn labels, dropout and a --loss on a family model; bfloat16; the
# original's loss evaluations.
IN_CI = ("dcgan", "dcgan_folder_wgan_gp_n_critic_2", "acgan", "wgan_n_critic_2", "cgan_fgan",
         "dcgan_bfloat16", "dcgan_original_loss_eval")


def snapshot():
    """(the snapshot recorded on this CPU or None, every snapshot: a case's
    structure is compared with any that holds it)."""
    mine = os.path.join(SNAPSHOT_DIR, same_numbers.fingerprint_name(same_numbers.cpu_fingerprint()))
    files = sorted(glob.glob(os.path.join(SNAPSHOT_DIR, "*.json")))
    assert files, f"no snapshot in {SNAPSHOT_DIR}"
    snapshots = {}
    for path in files:
        with open(path) as f:
            snapshots[path] = json.load(f)
    return snapshots.get(mine), list(snapshots.values())


@pytest.fixture(scope="module")
def recorded():
    return snapshot()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("same_numbers")
    same_numbers.make_data(str(root / "data"))
    return root


CASES = [pytest.param(name, marks=() if name in IN_CI else pytest.mark.slow)
         for name in same_numbers.CASES]


@pytest.mark.parametrize("name", CASES)
def test_the_numbers_are_the_ones_recorded(recorded, root, name):
    mine, every_cpu = recorded
    exact = None if mine is None else mine["cases"].get(name)
    any_cpu = next((snapshot for snapshot in every_cpu if name in snapshot["cases"]), None)
    if any_cpu is None:
        pytest.fail(f"{name}: no snapshot holds this case; record it: python"
                    f" tests/same_numbers.py record tests/data/same_numbers {name}")
    ours = same_numbers.record(name, str(root))
    expected = exact or any_cpu["cases"][name]
    assert ours["checkpoint"] == expected["checkpoint"]
    structure = lambda numbers: {key: value[:2] for key, value in numbers.items()}  # noqa: E731
    assert structure(ours["numbers"]) == structure(expected["numbers"])
    assert {tag: len(values) for tag, values in ours["scalars"].items()} == \
        {tag: len(values) for tag, values in expected["scalars"].items()}
    if exact is None:  # a skip, so that the summary shows what was not compared
        record = "python tests/same_numbers.py record tests/data/same_numbers"
        pytest.skip(f"{name}: no snapshot of this CPU's kernels ({same_numbers.cpu_fingerprint()});"
                    " the keys, shapes and logged tags match one recorded on"
                    f" {any_cpu['fingerprint']['cpu']}, the numbers were not compared. Record"
                    f" this CPU's: {record}" if mine is None else
                    f"{name}: this CPU's snapshot does not hold this case (a change moved its"
                    " rounding where it was recorded on another CPU); the keys, shapes and"
                    " logged tags match, the numbers were not compared. Record it on this CPU:"
                    f" {record} {name}")
    assert ours["scalars"] == expected["scalars"]
    differing = {key: (ours["numbers"][key], value) for key, value in expected["numbers"].items()
                 if ours["numbers"][key] != value}
    assert not differing, differing


def test_a_cpus_kernel_families_get_files_of_their_own(monkeypatch):
    """Where TF_ENABLE_ONEDNN_OPTS chose the kernels (a user, or dcgan-tf's
    startup.choose_onednn), the file is named for the family that ran, beside
    the one for TensorFlow's default on that CPU."""
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    default = same_numbers.cpu_fingerprint()
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    chosen = same_numbers.cpu_fingerprint()
    assert "onednn" not in default and chosen["onednn"] in ("on", "off")
    assert same_numbers.fingerprint_name(chosen) != same_numbers.fingerprint_name(default)
