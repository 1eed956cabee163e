"""What a submission's student and the instructor read: the feedback Markdown, its file
name, and gradebook cells (instructor side). Everything here may hold text a student
controls (exception messages, file names), so it is made safe before it is written."""

import hashlib
import re

ERRORS = 'backslashreplace'    # how text that cannot be UTF-8 (lone surrogates) is written


def _clean(text, limit):
    """One line of at most `limit` characters, without control characters."""
    text = re.sub(r'[\x00-\x1f\x7f]+', ' ', str(text)).strip()
    return text if len(text) <= limit else text[:limit - 1] + '…'


def feedback_text(graded, level='fix'):
    """The feedback Markdown of one graded submission; its report at a level of
    rl_kit.harness.LEVELS ('verdict', 'located', 'named', 'fix')."""
    row = graded.row
    lines = [f'# Feedback: {row["submission"]}', '']
    if row['status'] == 'ok':
        lines.append(f'Score: {row["score"]:g}% ({row["passed"]} of {row["passed"] + row["failed"]} test cases '
                     'passed).')
    else:
        lines.append(f'Your notebook could not be graded (status: {row["status"]}): {row["detail"]}.')
    if graded.notes:
        lines += ['', 'Notes:'] + [f'- {note}' for note in graded.notes]
    if graded.report is not None:
        lines += ['', graded.report.to_markdown(level)]
    return _no_html('\n'.join(lines).rstrip('\n') + '\n')


def _no_html(markdown):
    """The feedback with every `<` that could open an HTML tag, comment or declaration in
    Markdown (CommonMark: `<` then a letter, `/`, `!` or `?`) written as `&lt;`: a student's
    exception text or file name must not render as HTML in a learning platform. Our own
    text holds no HTML; `a < b` and `<=` stay as they are."""
    return re.sub(r'<(?=[A-Za-z/!?])', '&lt;', markdown)


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
