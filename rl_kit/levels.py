"""How much a report gives away (shipped to students; no dependencies, so that the grader's
command line can offer the levels without importing torch)."""

# least first: which cases pass; where, and what kind of difference; the mistake's name; its fix
LEVELS = ('verdict', 'located', 'named', 'fix')


def check_level(level):
    """The rank of a level (0 = 'verdict'); ValueError naming the levels for anything else."""
    if level not in LEVELS:
        raise ValueError(f'level must be one of {", ".join(map(repr, LEVELS))}, got {level!r}')
    return LEVELS.index(level)
