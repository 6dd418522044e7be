"""The API page's own words (section titles, table headings) in the page's language.

mkdocstrings takes its locale from the theme's language when its ``on_config`` runs; the
i18n plugin sets that language for each build later (its ``on_config`` runs last), so the
Japanese build would get English titles.  This hook runs first and tells mkdocstrings the
language being built.  The docstrings themselves stay English.
"""

from mkdocs.plugins import event_priority


@event_priority(100)
def on_config(config):
    i18n, mkdocstrings = config.plugins.get("i18n"), config.plugins.get("mkdocstrings")
    if i18n is not None and mkdocstrings is not None:
        mkdocstrings.config.locale = i18n.current_language or i18n.default_language
    return config
