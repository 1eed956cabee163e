"""Instructors only, never handed out: the known mistakes' implementations (ppo_mistakes.py)
and the notebook's hand-written source (ppo_lunarlander.md). The reference solution is
../ppo_reference.py; tools/build.py makes the notebooks and the hand-out from these."""
