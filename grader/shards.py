"""A grading run's record, and grading one folder across machines (instructor side).

    python grade.py SUBMISSIONS --out OUT_K --shard K/N      # on each of N machines, K = 1..N
    python grade.py merge --out OUT OUT_1 ... OUT_N           # one gradebook, class report, LMS file

Every run (sharded or not) writes OUT/batch.json last, so that its presence says the run
finished: the batch's identity, the shard, and one record per submission (its gradebook row
and what its report found: the cases passed, the groups, the named mistakes). The class
report and the LMS file are made from these records, by a run or by `merge`.

A shard is the K-th of N shares of the folder's sorted notebooks (positions K-1, K-1+N, ...):
deterministic, and balanced to one submission. Rows keep the names and feedback file names
of a single run, which are decided over the whole folder (alice.ipynb beside alice.IPYNB).

The batch identity is what must be equal for shards to be joined: the folder's notebooks
(names and contents, hashed), the options that change a verdict (--timeout, --memory-mb,
the hidden cases' contents) and the kit's grading code (hashed). Each shard draws its own
secret seed, never written: a verdict depends on what the submission computes on cases of
fixed structures (which behaviour each case isolates), not on the numbers drawn, so the
shards' gradebooks join into the gradebook of a single run (tests/grader/test_platforms.py
checks it, with a different seed per shard).
"""

import datetime
import functools
import hashlib
import json
import os
import shutil
import socket
import time

FORMAT = 1
RECORD = 'batch.json'
REPORT = 'class_report.html'
# the files whose code decides a verdict: shards graded with different versions are not joined
KIT_FILES = ('ppo_reference.py', 'rl_tests.py', 'rl_kit', os.path.join('instructor', 'ppo_mistakes.py'), 'grader')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ShardError(ValueError):
    """Shards that cannot be joined, or a --shard that cannot be used; the message says why and what to do."""


def parse_shard(text):
    """(K, N) of 'K/N' with 1 <= K <= N; ShardError naming the fix otherwise."""
    parts = str(text).split('/')
    if len(parts) == 2 and all(part.strip().isdigit() for part in parts):
        k, n = (int(part) for part in parts)
        if 1 <= k <= n:
            return k, n
    raise ShardError(f'--shard must be K/N with 1 <= K <= N, e.g. --shard 2/8; got {text!r} (a Kubernetes Indexed '
                     'Job counts from 0: use --shard $((JOB_COMPLETION_INDEX + 1))/N)')


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def folder_identity(paths):
    """A hash of the notebooks' names and contents. A file that grading refuses to read (a
    symbolic link, a FIFO, one too large) counts by its name and why, never followed."""
    from grader import batch
    digest = hashlib.sha256()
    for path in paths:
        try:
            with batch._open_regular_file(path) as file:  # streamed: the parent never holds a notebook
                content = hashlib.file_digest(file, 'sha256').hexdigest()
        except (batch.NotANotebook, OSError) as exc:
            content = f'unread: {type(exc).__name__}'
        digest.update(os.fsencode(os.path.basename(path)) + b'\0' + content.encode() + b'\n')
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def _file_digest(path, mtime_ns, size):
    with open(path, 'rb') as file:
        return _sha256(file.read())


def file_digest(path):
    """The hash of a file's contents, read once per version of the file in this process (the
    Gradescope autograder hashes the kit's files before it makes some of them unreadable)."""
    status = os.stat(path)
    return _file_digest(os.path.abspath(path), status.st_mtime_ns, status.st_size)


def kit_identity(root=ROOT):
    """A hash of the kit's grading code (KIT_FILES: .py and .json files)."""
    files = []
    for name in KIT_FILES:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            files += sorted(os.path.join(name, file) for file in os.listdir(path) if file.endswith(('.py', '.json')))
        elif os.path.exists(path):
            files.append(name)
    digest = hashlib.sha256()
    for name in files:
        content = file_digest(os.path.join(root, name))
        digest.update(name.replace(os.sep, '/').encode() + b'\0' + content.encode() + b'\n')
    return digest.hexdigest()


def batch_identity(paths, settings):
    """{'id': ..., and its parts}: equal for every shard of one batch."""
    hidden = settings.get('hidden')
    hidden = file_digest(hidden) if hidden else None
    parts = {'submissions': folder_identity(paths), 'count': len(paths), 'kit': kit_identity(),
             'settings': {'timeout': float(settings['timeout']), 'memory_mb': int(settings['memory_mb']),
                          'hidden cases': hidden}}
    return {'id': _sha256(json.dumps(parts, sort_keys=True).encode())[:16], **parts}


def report_summary(report):
    """What the class report needs of one submission's rl_kit.harness.Report (plain data)."""
    if report is None:
        return {}
    return {'groups': {group: list(counts) for group, counts in report.group_counts().items()},
            'sections': {case.group: case.section for case in report.cases},
            'cases': [[case.group, f'case {case.number}' + (f' ({case.title})' if case.title else ''), case.passed]
                      for case in report.cases],
            'mistakes': [[mistake.id, mistake.title] for mistake in report.mistakes]}


class Run:
    """The record of one grading run (grade_folder makes one): which share of the folder it
    grades, what each submission's report found, and the outputs made from them."""

    def __init__(self, submissions, paths, shard, settings, roster=None):
        from grader import lms
        self.shard = tuple(shard) if shard is not None else (1, 1)
        k, n = self.shard
        if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
            raise ShardError(f'shard must be (K, N) with 1 <= K <= N, got {shard!r}')
        # the roster is read before anything is graded: a bad one stops the run at once
        self.roster = lms.read_roster(roster) if isinstance(roster, (str, os.PathLike)) else roster
        self.positions = list(range(k - 1, len(paths), n))
        self.batch = batch_identity(paths, settings)
        self.folder = os.path.abspath(submissions)
        self.details = {}
        self.started, self.clock = _now(), time.monotonic()

    def mine(self, items):
        """The items (of the whole folder, in order) of this run's share."""
        return [items[position] for position in self.positions]

    def add(self, index, filename, graded):
        self.details[index] = dict(feedback=filename, **report_summary(graded.report))

    def records(self, rows):
        return [dict(position=self.positions[index], row=row, **self.details.get(index, {}))
                for index, row in enumerate(rows)]

    def write(self, out, rows):
        """Writes the class report, the LMS file (with a roster; a shard of several leaves it
        to merge, which sees every student's submission) and, last, batch.json."""
        runs = [{'shard': list(self.shard), 'host': socket.gethostname(), 'started': self.started,
                 'seconds': round(time.monotonic() - self.clock, 1), 'folder': self.folder}]
        roster = self.roster if self.shard[1] == 1 else None
        write_outputs(out, self.records(rows), self.batch, self.shard, runs, roster)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')


def write_outputs(out, records, batch, shard, runs, roster=None):
    from grader import batch as grading
    from grader import lms, report
    rows = [record['row'] for record in records]
    report.write_class_report(os.path.join(out, REPORT), records, batch, shard, runs)
    if roster is not None:
        lms.write_lms_files(out, roster, rows)
    data = {'format': FORMAT, 'batch': batch, 'shard': list(shard), 'runs': runs, 'records': records}
    grading._write_atomically(os.path.join(out, RECORD), json.dumps(data, indent=1) + '\n')


# ------------------------------------------------------------------------------------
# merge
# ------------------------------------------------------------------------------------

def read_record(folder):
    """The batch.json of a shard's output folder; ShardError saying what is wrong."""
    path = os.path.join(folder, RECORD)
    if not os.path.isdir(folder):
        raise ShardError(f'{folder}: no such folder (was this shard graded, and its output copied here?)')
    if not os.path.exists(path):
        raise ShardError(f'{folder} has no {RECORD}: not a finished grade.py output (a run writes it last: this '
                         'shard is still running, failed, or was graded by an older grade.py); grade it again')
    try:
        with open(path, encoding='utf-8') as file:
            data = json.load(file)
        if data.get('format') != FORMAT:
            raise ShardError(f'{path} is of format {data.get("format")!r}; this grade.py reads format {FORMAT}: '
                             'grade the shard again with this kit')
        k, n = data['shard']
        positions = [record['position'] for record in data['records']]
        if not isinstance(data['batch']['id'], str) or not isinstance(data['batch']['count'], int):
            raise TypeError('the batch identity is incomplete')
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, ShardError):
            raise
        raise ShardError(f'{path} is damaged ({type(exc).__name__}: {exc}); grade the shard again') from None
    data['folder'] = folder
    if positions != list(range(k - 1, data['batch']['count'], n)):
        raise ShardError(f'{path} does not hold the submissions of shard {k}/{n}; grade the shard again')
    return data


def _difference(first, other):
    """What differs between two batch identities, in words."""
    if first['submissions'] != other['submissions'] or first['count'] != other['count']:
        return (f'they graded different submissions ({first["count"]} and {other["count"]} notebooks, or the same '
                'number with other names or contents): every shard must grade the same folder, unchanged')
    if first['kit'] != other['kit']:
        return 'they were graded with different versions of the kit: grade every shard with the same kit'
    keys = sorted(key for key in first['settings'] if first['settings'][key] != other['settings'].get(key))
    return 'they were graded with different options: ' + ', '.join(
        f'{key} {first["settings"][key]!r} and {other["settings"].get(key)!r}' for key in keys)


def check_shards(shards):
    """ShardError unless the shards are exactly shards 1..N of one batch."""
    if not shards:
        raise ShardError('give the output folders of the shards to merge')
    first = shards[0]
    for data in shards[1:]:
        if data['batch']['id'] != first['batch']['id']:
            raise ShardError(f'{first["folder"]} and {data["folder"]} are shards of different batches: '
                             + _difference(first['batch'], data['batch']))
        if data['shard'][1] != first['shard'][1]:
            raise ShardError(f'{first["folder"]} is shard {first["shard"][0]}/{first["shard"][1]} and {data["folder"]} '
                             f'is shard {data["shard"][0]}/{data["shard"][1]}: every shard must use the same N')
    seen = {}
    for data in shards:
        k = data['shard'][0]
        if k in seen:
            raise ShardError(f'shard {k}/{data["shard"][1]} is given twice: {seen[k]} and {data["folder"]}')
        seen[k] = data['folder']
    n = first['shard'][1]
    missing = [k for k in range(1, n + 1) if k not in seen]
    if missing:
        listed = ', '.join(f'{k}/{n}' for k in missing)
        raise ShardError(f'shard{"s" if len(missing) > 1 else ""} {listed} of this batch '
                         f'{"are" if len(missing) > 1 else "is"} missing: grade '
                         + ' and '.join(f'--shard {k}/{n}' for k in missing)
                         + ' (same folder and options), then merge every shard again')


def merge(out, folders, roster=None):
    """Joins the output folders of shards 1..N of one batch into `out`: gradebook.csv,
    feedback/, class_report.html, lms_grades.csv (with a roster) and batch.json. Returns the rows."""
    from grader import batch as grading
    from grader import lms
    shards = [read_record(folder) for folder in folders]
    check_shards(shards)
    real_out = os.path.realpath(out)
    for data in shards:
        if os.path.realpath(data['folder']) == real_out:
            raise ShardError(f'--out {out} is one of the shards: write the merged output to a folder of its own')
    if isinstance(roster, (str, os.PathLike)):
        roster = lms.read_roster(roster)
    records = sorted((record for data in shards for record in data['records']), key=lambda r: r['position'])
    feedback = [(os.path.join(data['folder'], 'feedback', record['feedback'] + '.md'), record['feedback'] + '.md')
                for data in shards for record in data['records']]
    lost = [source for source, _ in feedback if not os.path.isfile(source)]
    if lost:
        raise ShardError(f'{len(lost)} feedback file(s) of the shards are missing, e.g. {lost[0]}: copy each shard\'s '
                         'whole output folder (feedback/ included), or grade that shard again')
    os.makedirs(os.path.join(out, 'feedback'), exist_ok=True)
    for source, name in feedback:
        shutil.copyfile(source, os.path.join(out, 'feedback', name))
    rows = [record['row'] for record in records]
    grading.write_gradebook(os.path.join(out, 'gradebook.csv'), rows)
    runs = [run for data in sorted(shards, key=lambda d: d['shard'][0]) for run in data['runs']]
    write_outputs(out, records, shards[0]['batch'], (1, 1), runs, roster)
    return rows
