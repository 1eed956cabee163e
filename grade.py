"""Batch grading of submitted notebooks (instructors): `python grade.py SUBMISSIONS --out OUT`.
The grader is the package grader/; `python grade.py --help` lists the options."""

import sys

from grader.cli import main

if __name__ == '__main__':
    sys.stdout.reconfigure(errors='backslashreplace')
    sys.exit(main())
