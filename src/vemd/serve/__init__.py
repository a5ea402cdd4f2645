"""``vemd serve``: group emotion over HTTP, a web page and a JSON API (extra ``serve``).

:func:`create_app` builds the FastAPI app around one loaded model (:mod:`vemd.serve.app`);
uploads are streamed into private temporary files (:mod:`vemd.serve.upload`), told apart by
their contents (:mod:`vemd.serve.content`) and predicted a bounded number at a time
(:mod:`vemd.serve.slots`). The page itself lives in ``static/``; it shows the model card as
HTML (:mod:`vemd.serve.card_html`) and loads nothing from another host.
"""

from vemd.serve.app import create_app

__all__ = ["create_app"]
