"""Docs that cannot drift (issue 34): the flags page names every flag main.py
defines, with its default, in --help's groups, and no flag that is gone; every
relative link of README.md and docs/, and every docs link the program prints,
reaches its file and heading; every `python main.py ...` line of the README
parses with main.py's flags. Each check is shown failing on a drift planted in
a copy."""

import glob
import os
import re
import shlex

import pytest

from conftest import REPO_DIR

DOCS = sorted(glob.glob(os.path.join(REPO_DIR, "docs", "*.md")))
README = os.path.join(REPO_DIR, "README.md")
FLAGS_PAGE = os.path.join(REPO_DIR, "docs", "flags.md")


def read(path):
    with open(path) as f:
        return f.read()


@pytest.fixture(scope="module")
def main_module():
    import sys  # noqa: PLC0415

    if REPO_DIR not in sys.path:
        sys.path.insert(0, REPO_DIR)
    import main  # noqa: PLC0415

    return main


# ----------------------------------------------------------------- the flags page

def flag_rows(text):
    """{group title: [(flag, default cell)]} of the flags page's tables."""
    groups, title = {}, None
    for line in text.splitlines():
        heading = re.match(r"^## (.+)$", line)
        if heading:
            title = heading.group(1)
        row = re.match(r"^\| `--(\w+)` \| ([^|]*) \|", line)
        if row:
            groups.setdefault(title, []).append((row.group(1), row.group(2).strip()))
    return groups


def default_cell(flag):
    """How the page writes a flag's default (the \\* of a changed layout default aside)."""
    if flag.default_as_str is None:
        return "unset"
    value = flag.default_as_str.strip("'")
    return f"`{value}`" if value else "empty"


def flags_page_problems(text, main):
    """What the page says that main.py does not: missing or unknown flags, wrong
    defaults, groups or order other than --help's (main.FLAG_GROUPS)."""
    problems = []
    groups = flag_rows(text)
    listed = [name for rows in groups.values() for name, _ in rows]
    defined = {flag.name for flag in main.FLAGS.get_flags_for_module(main)}
    problems += [f"--{name} is not on the page" for name in sorted(defined - set(listed))]
    problems += [f"--{name} is on the page but main.py has no such flag"
                 for name in sorted(set(listed) - defined)]
    for rows in groups.values():
        for name, cell in rows:
            if name in defined and cell.lstrip("\\*") != default_cell(main.FLAGS[name]):
                problems.append(f"--{name}: the page says {cell}, main.py"
                                f" {default_cell(main.FLAGS[name])}")
    expected = [(title, list(names)) for title, names in main.FLAG_GROUPS]
    found = [(title, [name for name, _ in rows]) for title, rows in groups.items()]
    if found != expected:
        problems.append("the page's groups are not --help's (main.FLAG_GROUPS)")
    return problems


def test_the_flags_page_names_every_flag_with_its_default(main_module):
    assert flags_page_problems(read(FLAGS_PAGE), main_module) == []


def test_the_flags_page_check_finds_a_planted_drift(main_module):
    page = read(FLAGS_PAGE)
    gone = page.replace("| `--ema_start` |", "| `--ema_begin` |")
    assert flags_page_problems(gone, main_module)[:2] == [
        "--ema_start is not on the page",
        "--ema_begin is on the page but main.py has no such flag"]
    wrong = page.replace("| `--epoch` | `25` |", "| `--epoch` | `20` |")
    assert "--epoch: the page says `20`, main.py `25`" in flags_page_problems(wrong, main_module)


def test_help_shows_the_original_flags_first_in_the_pages_groups(main_module):
    text = main_module.grouped_help()
    titles = [title for title, _ in main_module.FLAG_GROUPS]
    assert titles[0] == "The original's flags"
    positions = [text.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)
    every = [name for _, names in main_module.FLAG_GROUPS for name in names]
    assert len(every) == len(set(every))  # each flag once
    assert text.index("--epoch:") < text.index("--gf_dim:") < text.index("--[no]stabilized:")


# ----------------------------------------------------------------- links

def slug(heading):
    """GitHub's anchor of a heading: lower case, punctuation but - and _ dropped,
    spaces to hyphens."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    """Every heading's anchor in a markdown text (repeats numbered as GitHub does)."""
    seen, found = {}, set()
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        heading = re.match(r"^#{1,6} (.+)$", line)
        if heading and not in_code:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            found.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return found


def link_problems(path, text):
    """The relative links of a markdown file that reach no file or heading."""
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue  # http:, https:, mailto:
        file_part, _, anchor = target.partition("#")
        linked = (os.path.normpath(os.path.join(os.path.dirname(path), file_part))
                  if file_part else path)
        if not os.path.exists(linked):
            problems.append(f"{os.path.relpath(path, REPO_DIR)}: {target}: no such file")
            continue
        if anchor and linked.endswith(".md") and anchor not in anchors(read(linked)):
            problems.append(f"{os.path.relpath(path, REPO_DIR)}: {target}: no such heading")
    return problems


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: os.path.relpath(p, REPO_DIR))
def test_every_relative_link_reaches_its_file_and_heading(path):
    assert link_problems(path, read(path)) == []


def test_the_link_check_finds_planted_drifts():
    text = read(README) + "\n[a](docs/no_such_page.md) [b](docs/flags.md#no-such-heading)\n"
    assert link_problems(README, text) == [
        "README.md: docs/no_such_page.md: no such file",
        "README.md: docs/flags.md#no-such-heading: no such heading"]


def test_every_docs_link_the_program_prints_reaches_its_heading():
    """Messages name docs sections (docs/page.md#heading) for what to do next."""
    sources = [os.path.join(REPO_DIR, "main.py"),
               *glob.glob(os.path.join(REPO_DIR, "dcgan_tf", "**", "*.py"), recursive=True)]
    links = [(path, link) for path in sources
             for link in re.findall(r"docs/[\w-]+\.md#[\w-]+", read(path))]
    assert len(links) >= 3
    problems = [f"{os.path.relpath(path, REPO_DIR)}: {problem.split(': ', 1)[1]}"
                for path, link in links for problem in link_problems(README, f"[x]({link})")]
    assert problems == []


def test_the_readme_links_every_docs_page():
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)", read(README)))
    assert {os.path.relpath(path, REPO_DIR) for path in DOCS} <= linked


def test_the_readme_stays_short():
    assert len(read(README).splitlines()) <= 260


# ----------------------------------------------------------------- the README's commands

def main_commands(text):
    """Every `python main.py ...` command of a markdown text (continued lines
    joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        at = line.find("python main.py")
        if at < 0 or "`python main.py`" in line:
            continue
        command = line[at:].split("  #")[0].split("`")[0].strip()
        commands.append(command)
    return commands


def command_problems(commands, main):
    """The commands main.py's flags do not parse (absl's parser and main.py's
    Config checks; nothing runs)."""
    from dcgan_tf import config as config_lib  # noqa: PLC0415

    problems = []
    for command in commands:
        argv = shlex.split(command)[2:]
        if any(arg in main.HELP_FLAGS for arg in argv):
            continue
        try:
            main.FLAGS.unparse_flags()
            main.FLAGS(["main.py", *argv])
            config_lib.of_command_line(*main.command_line())
        except Exception as error:  # noqa: BLE001 (absl's and ours, each a drift)
            problems.append(f"{command}: {type(error).__name__}: {error}")
        finally:
            main.FLAGS.unparse_flags()
    return problems


def test_every_readme_command_parses_with_mains_flags(main_module):
    commands = main_commands(read(README))
    assert len(commands) >= 10
    assert command_problems(commands, main_module) == []


def test_the_command_check_finds_a_planted_drift(main_module):
    planted = ["python main.py --dataset mnist --no_such_flag 1",
               "python main.py --dataset mnist --model gan --gf_dim 8"]
    problems = command_problems(planted, main_module)
    assert len(problems) == 2 and "no_such_flag" in problems[0] and "gf_dim" in problems[1]
