"""The one exception type for problems a user can fix."""


class TextgenError(Exception):
    """A user-facing error: its message is a sentence a non-programmer can act on.

    ``TextgenError(template, **params)``: ``str(e)`` is ``template.format(**params)``, the
    English sentence. The template and params are kept so that the app can show the
    same sentence in another language (textgen.i18n.translate_error).
    """

    def __init__(self, template: str = "", **params):
        self.template = str(template)
        self.params = params
        super().__init__(self.template.format(**params) if params else self.template)
