"""What a submission's student and the instructor read: the feedback Markdown, its file
name, and gradebook cells (instructor side). Much of it is text a student controls
(exception messages, notes, file names, whatever a child sends back), so every such text
is made inert before it is written anywhere:

  - everywhere (gradebook, terminal, feedback): one line, at most a given length, no
    control or invisible formatting characters (ESC, CR, line separators, bidi overrides),
    and web addresses defanged (`http[:]//...`, `www[.]...`), so that no terminal,
    spreadsheet or learning platform turns them into links;
  - in the feedback's Markdown, also every ASCII punctuation character backslash-escaped
    (CommonMark: an escaped character is literal), so that it can open no heading, list,
    quote, emphasis, link, image, HTML tag, table or code fence, and renders as written.
"""

import copy
import dataclasses
import hashlib
import re

ERRORS = 'backslashreplace'    # how text that cannot be UTF-8 (lone surrogates) is written
# C0 and C1 controls, DEL, and invisible formatting: soft hyphen, Arabic letter mark, Mongolian
# vowel separator, zero-width and directional marks, line/paragraph separators, bidi embeddings
# and isolates, word joiners, the byte order mark, interlinear annotations
_CONTROL = re.compile('[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff'
                      '\ufff9-\ufffb]')
_ADDRESS = re.compile(r'(?i)\b([a-z][a-z0-9+.\-]*):(?=//)|\b(www)\.')
_PUNCTUATION = re.compile(r'([!-/:-@\[-`{-~])')  # every ASCII punctuation character


def _clean(text, limit):
    """One line of at most `limit` characters, without control or invisible formatting
    characters, its web addresses defanged: safe for a terminal, a spreadsheet cell and,
    once markdown_text() has escaped it, Markdown."""
    text = ' '.join(_CONTROL.sub(' ', str(text)).split())
    text = _ADDRESS.sub(lambda match: f'{match[1]}[:]' if match[1] else f'{match[2]}[.]', text)
    return text if len(text) <= limit else text[:limit - 1] + '…'


one_line = _clean


def markdown_text(text):
    """Inert text (see _clean) with every ASCII punctuation character backslash-escaped: in
    Markdown it renders as written, as plain text inside our own structure."""
    return _PUNCTUATION.sub(r'\\\1', _clean(text, 10**6))


def name_text(name):
    """A submission's name for the gradebook and the terminal: each control or invisible
    character shown as its escape (`\\x1b`) and web addresses defanged, but nothing else
    changed, so that two names stay apart and none can move the cursor."""
    shown = _CONTROL.sub(lambda match: match[0].encode('unicode_escape').decode('ascii'), name)
    return _ADDRESS.sub(lambda match: f'{match[1]}[:]' if match[1] else f'{match[2]}[.]', shown)


def _inert_report(report):
    """A copy of a harness.Report whose failure messages, function names and notes (what the
    student's code raised or sent) are markdown_text(); our own texts (titles, mistakes) stay.
    A deep copy changed in place: a Report made anew would name its mistakes again."""
    inert = copy.deepcopy(report)
    for case in inert.cases:
        case.failures = [dataclasses.replace(item, message=markdown_text(item.message),
                                             function=item.function and markdown_text(item.function))
                         for item in case.failures]
        case.notes = [markdown_text(note) for note in case.notes]
    if inert.stopped is not None:
        inert.stopped = dataclasses.replace(inert.stopped, message=markdown_text(inert.stopped.message))
    return inert


def feedback_text(graded, level='fix'):
    """The feedback Markdown of one graded submission; its report at a level of
    rl_kit.levels.LEVELS ('verdict', 'located', 'named', 'fix')."""
    row = graded.row
    lines = [f'# Feedback: {markdown_text(row["submission"])}', '']
    if row['status'] == 'ok':
        lines.append(f'Score: {row["score"]:g}% ({row["passed"]} of {row["passed"] + row["failed"]} test cases '
                     'passed).')
    else:
        lines.append(f'Your notebook could not be graded (status: {row["status"]}): {markdown_text(row["detail"])}.')
    if graded.notes:
        lines += ['', 'Notes:'] + [f'- {markdown_text(note)}' for note in graded.notes]
    if graded.report is not None:
        lines += ['', _inert_report(graded.report).to_markdown(level)]
    return '\n'.join(lines).rstrip('\n') + '\n'


def _safe_filename(name):
    safe = re.sub(r'[^\w.\-]+', '_', name, flags=re.ASCII).strip('.') or 'submission'
    if safe != name:  # keep names that had to change apart from one another
        safe += '-' + hashlib.sha1(name.encode('utf-8', 'surrogateescape')).hexdigest()[:8]
    return safe


def feedback_filenames(names):
    """A distinct safe file name (without .md) for each gradebook name: a name that is
    itself the safe form of another (`Jos_Garc_a-f5364fde` beside `José García`), or equal
    to another but for case (on a case-insensitive disk), gets a number added."""
    taken, result = set(), []
    for name in names:
        base = candidate = _safe_filename(name)
        number = 1
        while candidate.lower() in taken:
            number += 1
            candidate = f'{base}-{number}'
        taken.add(candidate.lower())
        result.append(candidate)
    return result


def _spreadsheet_safe(value):
    """A text cell that a spreadsheet would run as a formula (a file named `=HYPERLINK(...)
    .ipynb`) gets a leading apostrophe, as OWASP recommends against CSV injection."""
    if isinstance(value, str) and value.startswith(('=', '+', '-', '@', '\t', '\r')):
        return "'" + value
    return value
