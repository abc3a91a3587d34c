"""Teams: :class:`Team`."""

from kern.run.team import TeamRunOutput
from kern.team.team import Team

__all__ = ["Team", "TeamRunOutput"]
