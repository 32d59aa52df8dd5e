"""The languages a person is addressed in (``Person.language``): French first, then Dutch,
German and English. The pages (``monespace.i18n``) and the emails (``admin_ui.mail``) offer
these."""

LANGUAGES = ("fr", "nl", "de", "en")
DEFAULT = "fr"
