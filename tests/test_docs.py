"""The documentation is tested: its commands parse, its links resolve, and the code cites sections that exist.

- every `python -m tools.X ...` in README.md, docs/*.md and the flagfiles' headers names a tool and only flags that tool
  defines (read from the source of tools/, as tools/cli.py's registry does, without importing
  TensorFlow), and every `--flagfile` it names exists;
- every relative link and image resolves, and every `#anchor` names a heading of its target
  (GitHub's anchors);
- every "(README, Section)" or "(docs/x.md, Section)" cited in the code and the flagfiles
  names a heading that exists.
"""

import ast
import functools
import io
import os
import re
import shlex
import tokenize


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "tools")
DOCS = ["README.md"] + sorted(
    os.path.join("docs", name) for name in os.listdir(os.path.join(ROOT, "docs")) if name.endswith(".md"))

# Flags absl itself defines for every program.
ABSL_FLAGS = {"flagfile", "undefok", "help", "helpfull", "helpshort", "helpxml", "verbosity", "v",
              "logtostderr", "alsologtostderr", "log_dir", "stderrthreshold", "showprefixforinfo"}


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8") as file:
        return file.read()


# ---------------------------------------------------------------- the tools' flags

@functools.lru_cache(maxsize=None)
def _module_tree(name):
    path = os.path.join(TOOLS, name + ".py")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as file:
        return ast.parse(file.read(), path)


def _defined_flags(tree):
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr.startswith("DEFINE_") and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names.add(node.args[0].value)
            if node.func.attr in ("DEFINE_bool", "DEFINE_boolean"):
                names.add("no" + node.args[0].value)
    return names


def _imported_tool_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "tools":
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tools."):
            yield node.module.split(".")[1]
        elif isinstance(node, ast.Import):
            yield from (alias.name.split(".")[1] for alias in node.names if alias.name.startswith("tools."))


@functools.lru_cache(maxsize=None)
def tool_flags(tool):
    """The flags `python -m tools.<tool>` answers to (its own and those of the tools modules it imports), or None."""
    seen, todo, names = set(), [tool], set(ABSL_FLAGS)
    if _module_tree(tool) is None:
        return None
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        tree = _module_tree(name)
        if tree is None:
            continue
        names |= _defined_flags(tree)
        todo.extend(_imported_tool_modules(tree))
    return names


# ---------------------------------------------------------------- commands in the docs

COMMAND = re.compile(r"python3? -m tools\.(\w+)")
SHELL_STOP = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "<"}


def _code_texts(text):
    """Fenced code blocks (continuation lines joined) and inline code spans of a Markdown text."""
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        yield from block.replace("\\\n", " ").splitlines()
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    yield from re.findall(r"`([^`\n]+)`", prose.replace("\n", " "))


def _flagfile_header_lines(path):
    header = [line[1:].strip() for line in read(path).splitlines() if line.startswith("#")]
    return "\n".join(header).replace("\\\n", " ").splitlines()


def doc_commands():
    """(file, tool, the rest of the line) for each command in the docs and in the flagfiles' headers."""
    flagfiles = sorted(os.path.join("flags", name) for name in os.listdir(os.path.join(ROOT, "flags")))
    sources = [(path, _code_texts(read(path))) for path in DOCS]
    sources += [(path, _flagfile_header_lines(path)) for path in flagfiles]
    for path, lines in sources:
        for line in lines:
            for match in COMMAND.finditer(line):
                yield path, match.group(1), line[match.end():]


def _arguments(rest):
    lexer = shlex.shlex(rest, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    words = []
    try:
        for word in lexer:
            if word in SHELL_STOP or word.endswith(("'", '"')) and word.count(word[-1]) % 2:
                break
            words.append(word)
    except ValueError:  # an unclosed quote: the command was cut by the line
        pass
    return words


COMMANDS = list(doc_commands())


def test_the_docs_hold_commands():
    assert len(COMMANDS) >= 40
    tools = {tool for _, tool, _ in COMMANDS}
    assert {"train", "evaluate", "export", "convert_tflite", "build_voc_aug", "benchmark"} <= tools


def command_problems(path, tool, rest):
    flags = tool_flags(tool)
    if flags is None:
        return [f"{path}: `python -m tools.{tool}`: there is no tools/{tool}.py"]
    problems = []
    for word in _arguments(rest):
        if not word.startswith("-"):
            continue
        name, _, value = word.lstrip("-").partition("=")
        if name not in flags:
            problems.append(f"{path}: `python -m tools.{tool}` has no flag --{name}")
        elif name == "flagfile" and value and value != "..." and not os.path.exists(
                os.path.join(ROOT, value.replace("<recipe>", "voc_v3_os16"))):
            problems.append(f"{path}: --flagfile={value} does not exist")
    return problems


def test_every_command_uses_a_real_tool_and_its_flags():
    problems = [problem for command in COMMANDS for problem in command_problems(*command)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_unknown_flags():
    assert "crop_size" in tool_flags("train") and "nofine_tune_batch_norm" in tool_flags("train")
    assert "crop_size" not in tool_flags("export")
    assert tool_flags("no_such_tool") is None
    assert _arguments("--a=1 --b 'x y' | tee log  # --c") == ["--a=1", "--b", "x y"]
    assert command_problems("x.md", "train", "--crop_sise=3") == [
        "x.md: `python -m tools.train` has no flag --crop_sise"]
    assert command_problems("x.md", "train", "--flagfile=flags/none.flags")
    assert command_problems("x.md", "nothing", "")


# ---------------------------------------------------------------- links, anchors, images

def github_anchor(heading):
    """GitHub's anchor of a heading: markup dropped, lower case, punctuation removed, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*_]{1,2}([^`*_]+)[`*_]{1,2}", r"\1", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@functools.lru_cache(maxsize=None)
def headings(path):
    text = re.sub(r"^```.*?^```", "", read(path), flags=re.S | re.M)
    return [line.lstrip("#").strip() for line in text.splitlines() if re.match(r"#{1,6} ", line)]


@functools.lru_cache(maxsize=None)
def anchors(path):
    found, counts = set(), {}
    for heading in headings(path):
        anchor = github_anchor(heading)
        count = counts.get(anchor, 0)
        counts[anchor] = count + 1
        found.add(anchor if count == 0 else f"{anchor}-{count}")
    return found


def doc_links():
    for path in DOCS:
        text = re.sub(r"^```.*?^```", "", read(path), flags=re.S | re.M)
        text = re.sub(r"`[^`\n]*`", "", text)
        for image, target in re.findall(r"(!?)\[[^\]]*\]\(([^)\s]+)[^)]*\)", text):
            if not re.match(r"[a-z]+:", target):
                yield path, target, bool(image)


LINKS = list(doc_links())


def test_the_docs_hold_links():
    assert len(LINKS) >= 50 and any(image for _, _, image in LINKS)


def link_problems(path, target, image):
    file, _, anchor = target.partition("#")
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
    if not os.path.exists(os.path.join(ROOT, resolved)):
        return [f"{path}: {target}: no file {resolved}"]
    if image and not resolved.endswith((".png", ".jpg", ".svg", ".gif")):
        return [f"{path}: {target} is not an image"]
    if anchor and (not resolved.endswith(".md") or anchor not in anchors(resolved)):
        return [f"{path}: {target}: no heading with anchor #{anchor} in {resolved}"]
    return []


def test_every_link_image_and_anchor_resolves():
    problems = [problem for link in LINKS for problem in link_problems(*link)]
    assert not problems, "\n".join(problems)


def test_anchors_follow_github():
    assert link_problems("README.md", "docs/nothing.md", False)
    assert link_problems("README.md", "#no-such-heading", False)
    assert not link_problems("README.md", "docs/training.md#resuming", False)
    assert github_anchor("What `tools.evaluate` measures") == "what-toolsevaluate-measures"
    assert github_anchor("The v3 paper's test-time chain") == "the-v3-papers-test-time-chain"
    assert github_anchor("The demo recipe at 6,000 steps") == "the-demo-recipe-at-6000-steps"


# ---------------------------------------------------------------- sections cited by the code

CITATION = re.compile(r"\((README|docs/[\w.-]+\.md)(?:, ?\"?([^)\"]+)\"?)?\)|(docs/[\w.-]+\.md)")


def _texts_of_python(path):
    """The string constants (joined as Python joins them) and the comments (consecutive lines joined) of a file."""
    with open(path, encoding="utf-8") as file:
        source = file.read()
    for node in ast.walk(ast.parse(source, path)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield " ".join(node.value.split())
    comments, previous_line = [], None
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT:
            continue
        if previous_line is not None and token.start[0] != previous_line + 1:
            yield " ".join(comments)
            comments = []
        comments.append(token.string.lstrip("#").strip())
        previous_line = token.start[0]
    if comments:
        yield " ".join(comments)


def code_citations():
    for folder in ("deeplab_tf", "tools", "tests"):
        for directory, _, names in os.walk(os.path.join(ROOT, folder)):
            for name in sorted(names):
                if name.endswith(".py") and name != "test_docs.py":
                    path = os.path.join(directory, name)
                    for text in _texts_of_python(path):
                        for match in CITATION.finditer(text):
                            yield os.path.relpath(path, ROOT), match.group(1) or match.group(3), match.group(2)
    for name in sorted(os.listdir(os.path.join(ROOT, "flags"))):
        text = " ".join(line.lstrip("#").strip() for line in read(os.path.join("flags", name)).splitlines()
                        if line.startswith("#"))
        for match in CITATION.finditer(text):
            yield os.path.join("flags", name), match.group(1) or match.group(3), match.group(2)


CITATIONS = list(code_citations())


def test_the_code_cites_docs():
    assert len(CITATIONS) >= 5


def citation_problems(source, document, section):
    path = "README.md" if document == "README" else document
    if not os.path.exists(os.path.join(ROOT, path)):
        return [f"{source} cites {document}, which does not exist"]
    if section and github_anchor(section) not in {github_anchor(title) for title in headings(path)}:
        return [f"{source} cites ({document}, {section}): no such section"]
    return []


def test_every_cited_section_exists():
    problems = [problem for citation in CITATIONS for problem in citation_problems(*citation)]
    assert not problems, "\n".join(problems)
    assert citation_problems("x.py", "README", "No such section")
