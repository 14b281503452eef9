"""Tables for people who use the station and the tokens they use it with."""

from station.db.service_models import ApiToken, User

__all__ = ["ApiToken", "User"]
