"""Similar-movies explorer: `streamlit run app.py` (what `make run` does).

Streamlit runs this file as ``__main__`` for every page run of every visitor: that is the dashboard
(``ui/router.py``). The server itself imports it once when it starts, as the module ``app``, and serves ``app``,
an ``st.App`` whose lifespan starts the server's own work before any visitor arrives (``ui/startup.py``): a
job worker importing torch & co., and the default dataset's build when nothing is cached yet.
"""

from __future__ import annotations

if __name__ != "__main__":  # the server, starting: a job worker begins its imports while the server does its own
    from recsys_core.jobs import prewarm

    prewarm()

import streamlit as st

if __name__ == "__main__":
    from ui.router import main

    main()
else:
    from ui import startup

    app = st.App(__file__, lifespan=startup.lifespan)
