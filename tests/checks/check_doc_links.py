#!/usr/bin/env python3
"""Every relative link in README.md and docs/*.md points at a file that exists, and every #anchor at a
heading of the file it names (GitHub's anchor rules). Links to http(s) and mailto are not followed.

Usage: check_doc_links.py SOURCE_DIR
Prints "doc links: N passed, M failed" and exits 1 on any failure, one line per broken link.
"""
import glob
import os
import re
import sys

src = sys.argv[1]
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def prose(text):
    """The text outside fenced code blocks and inline code, where links are links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "``", text)


def anchors(path):
    """The anchors GitHub makes for the headings of a Markdown file."""
    seen, out = {}, set()
    with open(path, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
    for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*\s*$", text, flags=re.M):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m.group(1))
        slug = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


files = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
passed, failures = 0, []
for doc in files:
    with open(doc, encoding="utf-8") as f:
        text = prose(f.read())
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        where = f"{os.path.relpath(doc, src)}: ({target})"
        if not os.path.exists(dest):
            failures.append(f"{where}: no file {os.path.relpath(dest, src)}")
        elif anchor and not dest.endswith(".md"):
            failures.append(f"{where}: an anchor into a file that is not Markdown")
        elif anchor and anchor not in anchors(dest):
            failures.append(f"{where}: no heading with anchor #{anchor} in {os.path.relpath(dest, src)}")
        else:
            passed += 1
for line in failures:
    print(line, file=sys.stderr)
print(f"doc links: {passed} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
