"""Grades an LMS imports: a roster maps submissions to students (instructor side).

    python grade.py SUBMISSIONS --out OUT --roster ROSTER.csv [--assignment "PPO LunarLander"]

The roster is a CSV file (UTF-8, Excel's BOM and `;` separators accepted) with a header row.
Column names are matched without regard to case, spaces, `_` or `-`:

    student id   student_id | SIS User ID | ID number | id     (required; `id` is Canvas's own
                 user id when another student id column is there, as in Canvas's export)
    name         name | student | full name, or first name + last name            (required)
    e-mail       email | e-mail | email address                                  (optional)
    login        SIS Login ID | login | username                                 (optional)
    file name    filename | file                                                 (optional)
    section      section                                                         (optional)

So a hand-written `student_id,name,email` file, Canvas's gradebook export and Moodle's
grade export (First name, Last name, ID number, Email address) are all rosters.

A submission (its gradebook name: the file name without .ipynb) is matched to a student by
the first of these rules that names anyone, compared without regard to case:
  1. the student's `filename` (with or without .ipynb);
  2. the student's e-mail, or its local part (jane.doe for jane.doe@uni.edu);
  3. the student's login, student id or Canvas id;
  4. the name as an LMS download names it: Canvas's `doejane_12345_678_ppo.ipynb` (the
     Canvas id, or any identifier above of 3 or more characters, as a `_`-separated part),
     Moodle's `Jane Doe_4567_assignsubmission_file_ppo.ipynb` (the full name, then `_`).
A rule that names several students matches none of them (listed as ambiguous). A student
with several submissions gets the best score; the others are listed.

Writes OUT/lms_grades.csv, one row per student of the roster, in the columns of Canvas's
gradebook export, which Canvas imports as they are (Grades > Import) and Moodle imports
with a mapping (Grades > Import > CSV file: map `SIS User ID` to `ID number`, or
`SIS Login ID` to `Email address`, and the assignment column to the grade item):

    Student, ID, SIS User ID, SIS Login ID, Section, <assignment>

`ID` is Canvas's user id (empty unless the roster has it), `SIS Login ID` the login (else
the e-mail), and <assignment> the gradebook's score (percentage of the test cases passed,
0-100), empty for a student without a submission (Canvas and Moodle then leave the grade
as it is). And OUT/lms_unmatched.csv: every submission that matched no student, and every
student without a submission, so that nothing is lost.
"""

import csv
import dataclasses
import io
import os
import re

from grader.feedback import _clean, _spreadsheet_safe

DEFAULT_ASSIGNMENT = 'PPO LunarLander'
GRADES, UNMATCHED = 'lms_grades.csv', 'lms_unmatched.csv'
LMS_COLUMNS = ['Student', 'ID', 'SIS User ID', 'SIS Login ID', 'Section']
UNMATCHED_COLUMNS = ['problem', 'submission', 'student_id', 'name', 'detail']
ROSTER_SIZE_LIMIT = 32 * 2**20
TOKEN_MIN = 3  # characters of an identifier that rule 4 finds as a part of a downloaded file's name

# canonical field: the header names it is read from (normalised: lower case, single spaces)
STUDENT_ID = ('student id', 'sis user id', 'id number', 'idnumber')
LMS_ID = ('canvas id', 'canvas user id')
NAME = ('name', 'student', 'student name', 'full name')
FIRST, LAST = ('first name', 'firstname', 'given name'), ('last name', 'lastname', 'surname', 'family name')
EMAIL = ('email', 'e mail', 'email address', 'mail')
LOGIN = ('sis login id', 'login', 'login id', 'username', 'user name')
FILENAME = ('filename', 'file name', 'file', 'notebook')
SECTION = ('section',)
CANVAS_POINTS_ROW = 'points possible'   # the second row of Canvas's export


class RosterError(ValueError):
    """A roster that cannot be used; the message names the file, the line and the fix."""


@dataclasses.dataclass(frozen=True)
class Student:
    line: int            # line of the roster file, from 1 (the header is line 1)
    student_id: str
    name: str
    email: str = ''
    login: str = ''
    lms_id: str = ''     # Canvas's user id
    filename: str = ''
    section: str = ''

    def keys(self):
        """The identifiers rules 2 and 3 compare a submission's name with (lower case)."""
        found = [self.email, self.email.split('@')[0] if '@' in self.email else '', self.login, self.student_id,
                 self.lms_id]
        return {key.lower() for key in found if key}


@dataclasses.dataclass
class Roster:
    path: str
    students: list                          # [Student], in the roster's order
    assignment: str = DEFAULT_ASSIGNMENT    # the LMS column the grades go to


def _normal(header):
    return re.sub(r'[\s_\-]+', ' ', str(header).replace('\ufeff', '')).strip().lower()


def _column(headers, names):
    """The index of the first header among `names` (in the order of `names`), or None."""
    for name in names:
        if name in headers:
            return headers.index(name)
    return None


def read_roster(path, assignment=DEFAULT_ASSIGNMENT):
    """The Roster of a CSV file; RosterError for a file that cannot be used (missing
    columns, duplicate ids, e-mails or file names, a row without an id)."""
    if not assignment or not str(assignment).strip():
        raise RosterError('--assignment must name the LMS column the grades go to, e.g. --assignment "PPO LunarLander"')
    try:
        with open(path, 'rb') as file:
            data = file.read(ROSTER_SIZE_LIMIT + 1)
    except OSError as exc:
        raise RosterError(f'the roster {path} cannot be read: {exc.strerror or exc}') from None
    if len(data) > ROSTER_SIZE_LIMIT:
        raise RosterError(f'the roster {path} is larger than {ROSTER_SIZE_LIMIT // 2**20} MB; is it a roster?')
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError:
        raise RosterError(f'the roster {path} is not UTF-8 text: save it as "CSV UTF-8"') from None
    text_lines = text.splitlines()
    if not text_lines or not text_lines[0].strip():
        raise RosterError(f'the roster {path} is empty: it needs a header row (e.g. student_id,name,email) and a row '
                          'per student')
    delimiter = max(',;\t', key=text_lines[0].count)
    table = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    raw_headers = table[0]
    headers = [_normal(header) for header in raw_headers]
    id_column = _column(headers, STUDENT_ID)
    lms_column = _column(headers, LMS_ID)
    if id_column is None:
        id_column = _column(headers, ('id',))
    elif lms_column is None:
        lms_column = _column(headers, ('id',))
    name_column = _column(headers, NAME)
    first, last = _column(headers, FIRST), _column(headers, LAST)
    missing = []
    if id_column is None:
        missing.append('a student id (student_id, SIS User ID, ID number or id)')
    if name_column is None and (first is None or last is None):
        missing.append('a name (name, or first name and last name)')
    if missing:
        raise RosterError(f'the roster {path} has no column for {" and ".join(missing)}; its columns are: '
                          + ', '.join(repr(header) for header in raw_headers))
    columns = {'email': _column(headers, EMAIL), 'login': _column(headers, LOGIN), 'lms_id': lms_column,
               'filename': _column(headers, FILENAME), 'section': _column(headers, SECTION)}

    def cell(row, index):
        return row[index].strip() if index is not None and index < len(row) else ''

    students, problems = [], []
    for line, row in enumerate(table[1:], 2):
        if not any(value.strip() for value in row):
            continue  # a blank line
        name = cell(row, name_column) if name_column is not None else \
            f'{cell(row, first)} {cell(row, last)}'.strip()
        fields = {key: cell(row, index) for key, index in columns.items()}
        student_id = cell(row, id_column) or fields['lms_id']
        if not student_id:
            if name.lower() == CANVAS_POINTS_ROW and not fields['email']:
                continue  # Canvas's export: the points of each assignment, not a student
            problems.append(f'line {line} has no student id ({name or "no name either"})')
            continue
        fields['filename'] = re.sub(r'\.ipynb$', '', fields['filename'], flags=re.IGNORECASE)
        students.append(Student(line, student_id, name, **fields))
    for label, key in (('student id', lambda s: s.student_id), ('e-mail', lambda s: s.email),
                       ('file name', lambda s: s.filename), ('Canvas id', lambda s: s.lms_id)):
        seen = {}
        for student in students:
            if key(student):
                seen.setdefault(key(student).lower(), []).append(student.line)
        problems += [f'{label} {value!r} is on lines {", ".join(map(str, found[:-1]))} and {found[-1]}'
                     for value, found in seen.items() if len(found) > 1]
    if problems:
        shown = '; '.join(problems[:10]) + (f'; and {len(problems) - 10} more' if len(problems) > 10 else '')
        raise RosterError(f'the roster {path} cannot be used: {shown}. Give each student one row, with an id of '
                          'their own')
    if not students:
        raise RosterError(f'the roster {path} has a header but no students')
    return Roster(str(path), students, str(assignment).strip())


# ------------------------------------------------------------------------------------
# Matching
# ------------------------------------------------------------------------------------

def _stem(name):
    return re.sub(r'\.ipynb$', '', name, flags=re.IGNORECASE).lower()


def candidates(name, students):
    """(students, rule) of the first rule that names anyone for a submission's name."""
    stem = _stem(name)
    rules = [
        ('file name', lambda s: bool(s.filename) and s.filename.lower() == stem),
        ('e-mail', lambda s: bool(s.email) and stem in {s.email.lower(), s.email.split('@')[0].lower()}),
        ('id', lambda s: stem in s.keys()),
    ]
    parts = set(re.split(r'_+', stem))
    rules.append(('LMS download name', lambda s: any(len(key) >= TOKEN_MIN and key in parts for key in s.keys())
                  or (bool(s.lms_id) and s.lms_id.lower() in parts)
                  or (bool(s.name) and stem.startswith(s.name.lower() + '_'))))
    for rule, test in rules:
        found = [student for student in students if test(student)]
        if found:
            return found, rule
    return [], None


@dataclasses.dataclass
class Matching:
    grades: dict       # student_id: the row it takes its grade from
    problems: list     # [dict of UNMATCHED_COLUMNS]


def _problem(problem, submission='', student_id='', name='', detail=''):
    return dict(problem=problem, submission=submission, student_id=student_id, name=name, detail=detail)


def match(roster, rows):
    """Matches gradebook rows to the roster's students (see the module's docstring)."""
    by_student, problems = {}, []
    for row in rows:
        found, rule = candidates(row['submission'], roster.students)
        if not found:
            problems.append(_problem('submission without a student', submission=row['submission'],
                                 detail=f'no roster row matches it; score {row["score"]:g}'))
        elif len(found) > 1:
            problems.append(_problem('submission matching several students', submission=row['submission'],
                                 detail=f'by {rule}: ' + ', '.join(f'{s.student_id} ({s.name})' for s in found)
                                 + f'; score {row["score"]:g}'))
        else:
            by_student.setdefault(found[0].student_id, []).append(row)
    grades = {}
    for student in roster.students:
        submitted = by_student.get(student.student_id, [])
        if not submitted:
            problems.append(_problem('student without a submission', student_id=student.student_id,
                                 name=student.name, detail=f'roster line {student.line}'))
            continue
        best = max(submitted, key=lambda row: row['score'])  # first of the best: the folder's order
        grades[student.student_id] = best
        for other in submitted:
            if other is not best:
                problems.append(_problem('another submission of this student', submission=other['submission'],
                                     student_id=student.student_id, name=student.name,
                                     detail=f'score {other["score"]:g}; the LMS file has {best["submission"]} '
                                            f'(score {best["score"]:g})'))
    return Matching(grades, problems)


def _csv(header, rows):
    table = io.StringIO()
    writer = csv.writer(table, lineterminator='\r\n')  # as Canvas and Excel write CSV
    writer.writerow(header)
    for row in rows:
        writer.writerow([_spreadsheet_safe(value) for value in row])
    return table.getvalue()


def lms_tables(roster, rows):
    """(text of lms_grades.csv, text of lms_unmatched.csv, Matching)."""
    found = match(roster, rows)
    grades = []
    for student in roster.students:
        row = found.grades.get(student.student_id)
        grades.append([student.name, student.lms_id, student.student_id, student.login or student.email,
                       student.section, '' if row is None else f'{row["score"]:g}'])
    problems = [[_clean(problem.get(key, ''), 500) for key in UNMATCHED_COLUMNS] for problem in found.problems]
    return (_csv(LMS_COLUMNS + [roster.assignment], grades), _csv(UNMATCHED_COLUMNS, problems), found)


def write_lms_files(out, roster, rows):
    """Writes OUT/lms_grades.csv and OUT/lms_unmatched.csv; returns the Matching."""
    from grader.batch import _write_atomically
    grades, unmatched, found = lms_tables(roster, rows)
    _write_atomically(os.path.join(out, GRADES), grades)
    _write_atomically(os.path.join(out, UNMATCHED), unmatched)
    return found
