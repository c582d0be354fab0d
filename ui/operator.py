"""Who may change the server: the operator (who started it) trains, downloads, clears caches, sets defaults.

Visitors browse: their own slider, filters, links and ratings. The operator is recognised by a token:

* ``RECSYS_OPERATOR_TOKEN`` set: a session becomes the operator's by opening any page once with
  ``?operator=<token>`` (the token then leaves the address bar);
* not set, and the server listens only on this machine (the default, ``127.0.0.1``): whoever can reach it
  is on this machine, so every session is the operator's, except one that arrives through a reverse proxy
  (a forwarding header on its connection: the usual way to share a loopback server), which is a visitor's;
* not set, and the server listens on other interfaces: a token is made at start and written to the
  server's log (only the operator sees it), so visitors from the network never get operator controls.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets

import streamlit as st

TOKEN_ENV = "RECSYS_OPERATOR_TOKEN"
QUERY_KEY = "operator"
SESSION_KEY = "is_operator"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# what nginx, Caddy, Apache, Traefik and the like add to a request they pass on (RFC 7239 and the de-facto ones)
_PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip")
_log = logging.getLogger("recsys_app")


@st.cache_resource(show_spinner=False)
def _token() -> str | None:
    """The operator's token for this server process (None: every session is the operator's)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    address = str(st.get_option("server.address") or "").strip()
    if address in _LOOPBACK:
        return None
    token = secrets.token_urlsafe(16)
    port = st.get_option("server.port")
    _log.warning("The server listens beyond this machine (%s); operator controls need this link: "
                 "http://<this host>:%s/?%s=%s", address or "all interfaces", port, QUERY_KEY, token)
    return token


def recognise() -> None:
    """Mark this session as the operator's when it presents the token (once), and drop it from the URL."""
    token = _token()
    ss = st.session_state
    if token is None:
        ss[SESSION_KEY] = not _from_elsewhere()
        return
    given = st.query_params.get(QUERY_KEY)
    if given is not None:
        if hmac.compare_digest(str(given).encode(), token.encode()):
            ss[SESSION_KEY] = True
        del st.query_params[QUERY_KEY]
    ss.setdefault(SESSION_KEY, False)


def _from_elsewhere() -> bool:
    """Whether this session reached the loopback server through a reverse proxy (its connection is local, so
    only the proxy's forwarding headers tell)."""
    try:
        proxied = any(st.context.headers.get(h) for h in _PROXY_HEADERS)
    except Exception:  # noqa: BLE001 - no request context (a bare script run): nobody else is connected
        return False
    if proxied:
        _warn_proxied()
    return proxied


@st.cache_resource(show_spinner=False)
def _warn_proxied() -> bool:
    """Say once in the log why visitors through a proxy get no operator controls, and what to do."""
    _log.warning("A session reached this loopback server through a proxy (a forwarding header): it browses as a "
                 "visitor. Set %s and open the dashboard once with ?%s=<token> for operator controls there.",
                 TOKEN_ENV, QUERY_KEY)
    return True


def is_operator() -> bool:
    """Whether this session may train, download, clear caches and set defaults for everyone."""
    return bool(st.session_state.get(SESSION_KEY, False))


def explain(action: str) -> None:
    """Tell a visitor why a control is missing (the operator does it)."""
    st.caption(f"🔒 {action} is for the operator who runs this server; visitors browse, tune their own slider "
               "and share links. (Operators: open the link with your token, see the README.)")
