"""The class report: OUT/class_report.html, written by every grading run and by merge
(instructor side). One self-contained page (the plots are PNGs inline as data: URIs; no
script, font or anything else from the network) that shows what the class did:

  - whether isolation was on, the statuses, the timeouts and errors;
  - the score distribution;
  - the pass rate per group of cases (the points cells' groups) and per case;
  - each named mistake with how many submissions made it, and which.

Made from the run's records (grader/shards.py), never from a submission's own words but
the messages it raised: every text a student controls (names, details) is cleaned with
grader.feedback's cleaning and HTML-escaped.
"""

import base64
import collections
import html
import io
import statistics

from grader.feedback import _clean

STATUS_ORDER = ('ok', 'timeout', 'error', 'no PPO class', 'not a notebook')
TEXT_LIMIT = 300            # characters of a student-controlled text shown
NAMES_SHOWN = 2000          # submissions listed under one mistake (the count is always whole)
MISTAKES_PLOTTED = 15
COLOURS = {'ok': '#1a7f37', 'timeout': '#bf8700', 'error': '#cf222e', 'no PPO class': '#8250df',
           'not a notebook': '#57606a'}
STYLE = '''
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 70em; margin: 1.5em auto;
       padding: 0 1em; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #d0d7de; }
.meta { color: #57606a; } .banner { padding: 0.6em 0.9em; border-radius: 6px; margin: 1em 0; }
.on { background: #dafbe1; border: 1px solid #1a7f37; } .off { background: #ffebe9; border: 1px solid #cf222e; }
.figures { display: flex; flex-wrap: wrap; gap: 1em; } .figure { flex: 1 1 22em; }
.key { display: flex; flex-wrap: wrap; gap: 0.8em; margin: 0.8em 0; }
.key div { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.4em 0.8em; }
.key b { display: block; font-size: 1.4em; }
img { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 0.6em 0; } td, th { border: 1px solid #d0d7de; padding: 0.25em 0.6em;
       text-align: left; vertical-align: top; } th { background: #f6f8fa; } td.n { text-align: right; }
details summary { cursor: pointer; } .names { font-family: ui-monospace, monospace; font-size: 0.9em; }
'''


def _text(value, limit=TEXT_LIMIT):
    """A student-controlled (or any) text, cleaned and escaped for HTML."""
    return html.escape(_clean(value, limit).encode('utf-8', 'backslashreplace').decode('utf-8'))


def _label(text):
    """A text for a matplotlib label: `$` would start mathtext."""
    return str(text).replace('$', r'\$')


# ------------------------------------------------------------------------------------
# The numbers
# ------------------------------------------------------------------------------------

def class_summary(records):
    """The report's numbers, from the run's records (plain data; tested on its own)."""
    rows = [record['row'] for record in records]
    ran = [record for record in records if record['row']['status'] == 'ok' and record.get('cases') is not None]
    statuses = collections.Counter(row['status'] for row in rows)
    groups, cases, sections = {}, {}, {}
    for record in ran:
        sections.update(record.get('sections', {}))
        for group, (passed, total) in record.get('groups', {}).items():
            entry = groups.setdefault(group, [0, 0])
            entry[0] += passed == total
            entry[1] += 1
        for group, label, passed in record['cases']:
            entry = cases.setdefault((group, label), [0, 0])
            entry[0] += bool(passed)
            entry[1] += 1
    mistakes = {}
    for record in ran:
        for mistake_id, title in record.get('mistakes', []):
            entry = mistakes.setdefault(mistake_id, {'title': title, 'submissions': []})
            entry['submissions'].append(record['row']['submission'])
    ranked = sorted(mistakes.items(), key=lambda item: -len(item[1]['submissions']))  # stable: first seen first
    scores = [float(row['score']) for row in rows]
    return {
        'total': len(rows), 'ran': len(ran), 'statuses': statuses, 'scores': scores,
        'scored': [(row['status'], float(row['score'])) for row in rows],
        'isolated': collections.Counter(row['isolated'] for row in rows),
        'groups': groups, 'cases': cases, 'sections': sections,
        'mistakes': [(mistake_id, entry['title'], entry['submissions']) for mistake_id, entry in ranked],
        'problems': [row for row in rows if row['status'] != 'ok'],  # timeouts, errors, no PPO class, not a notebook
        'full_marks': sum(score == 100 for score in scores),
    }


# ------------------------------------------------------------------------------------
# The plots
# ------------------------------------------------------------------------------------

def _png(figure):
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=100, bbox_inches='tight')
    return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')


def _figure(width, height):
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend
    figure = Figure(figsize=(width, height))
    return figure, figure.add_subplot()


def plot_scores(summary):
    from matplotlib.ticker import MaxNLocator
    figure, axes = _figure(6, 3.2)
    by_status = collections.defaultdict(list)
    for status, score in summary['scored']:
        by_status[status].append(score)
    bins = [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99.95, 100.05]
    stacked = [(status, by_status[status]) for status in STATUS_ORDER if by_status.get(status)]
    if stacked:
        axes.hist([scores for _, scores in stacked], bins=bins, stacked=True, label=[s for s, _ in stacked],
                  color=[COLOURS[s] for s, _ in stacked], edgecolor='white')
        axes.legend(frameon=False, fontsize=8)
    axes.set_xticks([0, 20, 40, 60, 80, 100])
    axes.set_xlabel('score (% of test cases passed; the last bar is 100)')
    axes.set_ylabel('submissions')
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title('Score distribution')
    axes.spines[['top', 'right']].set_visible(False)
    return _png(figure)


def plot_rates(title, labels, rates, counts, colour='#0969da'):
    """Horizontal bars of pass rates (0-100), labelled with the counts."""
    figure, axes = _figure(7, 0.8 + 0.32 * max(1, len(labels)))
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, rates, color=colour)
    for position, rate, count in zip(positions, rates, counts):
        axes.text(min(rate, 100) + 1, position, count, va='center', fontsize=8)
    axes.set_yticks(positions, [_label(label) for label in labels], fontsize=8)
    axes.set_xlim(0, 115)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.set_xlabel('% of the submissions whose cases ran')
    axes.set_title(_label(title))
    axes.spines[['top', 'right']].set_visible(False)
    return _png(figure)


def plot_mistakes(mistakes, ran):
    from matplotlib.ticker import MaxNLocator
    shown = mistakes[:MISTAKES_PLOTTED]
    figure, axes = _figure(7, 0.8 + 0.32 * max(1, len(shown)))
    positions = list(range(len(shown)))[::-1]
    counts = [len(names) for _, _, names in shown]
    axes.barh(positions, counts, color='#bc4c00')
    for position, count in zip(positions, counts):
        axes.text(count, position, f' {count}', va='center', fontsize=8)
    axes.set_yticks(positions, [_label(title) for _, title, _ in shown], fontsize=8)
    axes.set_xlim(0, max(counts + [1]) * 1.15)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel(f'submissions (of the {ran} whose cases ran)')
    axes.set_title('Named mistakes' + (f' (the {MISTAKES_PLOTTED} most common)' if len(mistakes) > len(shown) else ''))
    axes.spines[['top', 'right']].set_visible(False)
    return _png(figure)


# ------------------------------------------------------------------------------------
# The page
# ------------------------------------------------------------------------------------

def _img(source, alt):
    return f'<img src="{source}" alt="{html.escape(alt)}">'


def _table(header, rows, numeric=()):
    head = ''.join(f'<th>{html.escape(cell)}</th>' for cell in header)
    body = ''.join('<tr>' + ''.join(f'<td class="n">{cell}</td>' if index in numeric else f'<td>{cell}</td>'
                                    for index, cell in enumerate(row)) + '</tr>' for row in rows)
    return f'<table><tr>{head}</tr>{body}</table>'


def _percent(part, whole):
    return 100.0 * part / whole if whole else 0.0


def class_report_html(records, batch, shard, runs):
    summary = class_summary(records)
    total, ran = summary['total'], summary['ran']
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Class report: {total} '
             f'submissions</title><style>{STYLE}</style></head><body>',
             '<h1>Class report: PPO on LunarLander</h1>',
             f'<p class="meta">{total} submissions'
             + (f' (shard {shard[0]}/{shard[1]} of the folder)' if shard[1] > 1 else '')
             + f'; batch {html.escape(str(batch.get("id", "")))}'
             + (f', merged from {len(runs)} shards' if len(runs) > 1 else '') + '; graded '
             + ', '.join(html.escape(f'{run["started"]} on {run["host"]} ({run["seconds"]:g} s)') for run in runs[:8])
             + (' …' if len(runs) > 8 else '') + '</p>']
    settings = batch.get('settings')
    if settings:
        parts.append('<p class="meta">' + html.escape(
            f'Settings: {settings["timeout"]:g} s and {settings["memory_mb"]} MB per submission (grade.py --timeout, '
            f'--memory-mb); hidden cases: {"yes" if settings.get("hidden cases") else "none"}.') + '</p>')
    off = summary['isolated'].get('no', 0)
    if total == 0:
        parts.append('<p>No submissions.</p>')
    elif off:
        parts.append(f'<div class="banner off"><b>Isolation was OFF for {off} of {total} submissions</b> '
                     '(isolated=no in the gradebook): they ran as plain processes with resource caps only '
                     '(bubblewrap missing or unable to run on the grading machine).</div>')
    else:
        parts.append(f'<div class="banner on">Isolation was on for all {total} submissions: bubblewrap (no network, '
                     'only the Python environment and the student modules visible, resource caps).</div>')
    key = [('submissions', total), ('cases ran', ran), ('full marks', summary['full_marks'])]
    if summary['scores']:
        key += [('mean score', f'{statistics.mean(summary["scores"]):.1f}%'),
                ('median score', f'{statistics.median(summary["scores"]):.1f}%')]
    key += [(status, summary['statuses'][status]) for status in STATUS_ORDER[1:] if summary['statuses'].get(status)]
    parts.append('<div class="key">' + ''.join(f'<div>{html.escape(str(label))}<b>{html.escape(str(value))}</b></div>'
                                               for label, value in key) + '</div>')
    if total:
        parts.append('<h2>Scores</h2>')
        parts.append(_img(plot_scores(summary), 'histogram of the scores, coloured by status'))
        parts.append(_table(['status', 'submissions'], [[html.escape(status), summary['statuses'][status]]
                                                        for status in STATUS_ORDER if summary['statuses'].get(status)],
                            numeric=(1,)))
    if summary['groups']:
        groups = list(summary['groups'].items())  # in the order of the report
        labels = [summary['sections'].get(group, group) for group, _ in groups]
        rates = [_percent(passed, count) for _, (passed, count) in groups]
        counts = [f'{passed}/{count}' for _, (passed, count) in groups]
        parts.append('<h2>Pass rate per group</h2><p>A group passes when all its cases pass, as its points cell in the '
                     f'notebook scores it; of the {ran} submissions whose cases ran.</p>')
        parts.append(_img(plot_rates('Submissions passing every case of the group', labels, rates, counts),
                          'bar chart of the pass rate of each group of cases'))
        parts.append(_table(['group', 'passed', 'pass rate'], [[html.escape(label), count, f'{rate:.0f}%'] for label,
                                                               count, rate in zip(labels, counts, rates)],
                            numeric=(1, 2)))
        cases = list(summary['cases'].items())
        case_labels = [f'{group}: {label}' for (group, label), _ in cases]
        case_rates = [_percent(passed, count) for _, (passed, count) in cases]
        case_counts = [f'{passed}/{count}' for _, (passed, count) in cases]
        parts.append('<h2>Pass rate per case</h2>')
        parts.append(_img(plot_rates('Submissions passing the case', case_labels, case_rates, case_counts, '#1a7f37'),
                          'bar chart of the pass rate of each case'))
        parts.append(_table(['case', 'passed', 'pass rate'], [[html.escape(label), count, f'{rate:.0f}%'] for label,
                                                              count, rate in zip(case_labels, case_counts, case_rates)],
                            numeric=(1, 2)))
    parts.append('<h2>Named mistakes</h2>')
    if summary['mistakes']:
        top_id, top_title, top_names = summary['mistakes'][0]
        parts.append(f'<p id="top-mistake">The most common mistake: <b>{html.escape(top_title)}</b>, made by '
                     f'<b>{len(top_names)}</b> of the {ran} submissions whose cases ran.</p>')
        parts.append(_img(plot_mistakes(summary['mistakes'], ran), 'bar chart of how many submissions made each '
                                                                    'named mistake'))
        rows = []
        for mistake_id, title, names in summary['mistakes']:
            listed = ', '.join(_text(name, 200) for name in names[:NAMES_SHOWN])
            if len(names) > NAMES_SHOWN:
                listed += f' … and {len(names) - NAMES_SHOWN} more (see gradebook.csv and feedback/)'
            rows.append([f'{html.escape(title)} <span class="meta">({html.escape(mistake_id)})</span>', len(names),
                         f'<details><summary>{len(names)} submission{"s" if len(names) != 1 else ""}</summary>'
                         f'<div class="names">{listed}</div></details>'])
        parts.append(_table(['mistake', 'submissions', 'which'], rows, numeric=(1,)))
    else:
        parts.append(f'<p>No known mistake was named in the {ran} submissions whose cases ran.</p>')
    parts.append('<h2>Timeouts, errors and notebooks that could not be graded</h2>')
    if summary['problems']:
        parts.append(_table(['submission', 'status', 'detail'],
                            [[_text(row['submission'], 200), html.escape(row['status']), _text(row['detail'])]
                             for row in summary['problems']]))
    else:
        parts.append('<p>None.</p>')
    parts.append('<p class="meta">Written by grade.py (grader/report.py); the gradebook is gradebook.csv, each '
                 'student\'s report feedback/&lt;submission&gt;.md.</p></body></html>\n')
    return '\n'.join(parts)


def write_class_report(path, records, batch, shard, runs):
    from grader.batch import _write_atomically
    _write_atomically(path, class_report_html(records, batch, shard, runs))
