"""The feedback Markdown as a learning platform renders it (markdown-it-py: CommonMark with
GFM's tables and strikethrough), for the tests: its text, and the structure it makes."""

import html.parser

from markdown_it import MarkdownIt

MARKDOWN = MarkdownIt('commonmark').enable(['table', 'strikethrough'])


class _Parts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def parts(markdown):
    """(tags in document order, text) of the rendered Markdown."""
    parser = _Parts()
    parser.feed(MARKDOWN.render(markdown))
    return parser.tags, ''.join(parser.text)


def rendered(path):
    """The text a reader sees of a feedback file (entities and escapes resolved)."""
    return parts(path.read_text(encoding='utf-8', errors='surrogateescape'))[1]
