"""Instructors only, never handed out: batch grading of submitted notebooks
(`python grade.py SUBMISSIONS --out OUT` from the kit's root; grader/README.md
says how a grade is made).

    cli.py        the command line
    batch.py      a folder of notebooks to a gradebook
    sandbox.py    the pre-imported template processes and their bubblewrap sandbox
    child.py      the sandboxed child: the only place a submission is read and its code runs
    judge.py      the run's secret cases, their expected outputs and the known mistakes'
    feedback.py   the feedback text and safe file names
    shards.py     a run's record (batch.json), --shard K/N and `grade.py merge`
    report.py     the class report (class_report.html)
    lms.py        --roster: the grades an LMS imports (lms_grades.csv, lms_unmatched.csv)
    gradescope.py the Gradescope autograder (autograder.zip, made by tools/build.py;
                  autograder/ holds its setup.sh and run_autograder)
"""
