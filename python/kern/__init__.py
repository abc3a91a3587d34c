"""Kern: durable runs for AI agents, teams and workflows, on a Rust engine.

The modules follow Agno's layout, so that programs written for Agno run with ``agno``
replaced by ``kern`` in their imports: :mod:`kern.agent`, :mod:`kern.team`,
:mod:`kern.workflow`, :mod:`kern.db.sqlite`, :mod:`kern.db.postgres`, :mod:`kern.models`,
:mod:`kern.tools`, :mod:`kern.run`, :mod:`kern.utils.pprint`, :mod:`kern.os`.
"""

__version__ = "0.1.0"
