"""``vemd serve``: group emotion over HTTP, a web page and a JSON API (extra ``serve``).

:func:`create_app` builds the FastAPI app around one loaded model (:mod:`vemd.serve.app`);
uploads are streamed into private temporary files (:mod:`vemd.serve.upload`), told apart by
their contents (:mod:`vemd.serve.content`) and predicted a bounded number at a time
(:mod:`vemd.serve.slots`). The page itself lives in ``static/``.
"""

from vemd.serve.app import create_app

__all__ = ["create_app"]
