"""Click parameter types for the values caretrail commands take that click has no type for."""

from __future__ import annotations

import click

from services.persistence import DatabaseUrlError, check_database_url


class StoreUrl(click.ParamType[str]):
    """A store URL of a kind caretrail keeps stores in (what CARETRAIL_DATABASE_URL takes)."""

    name = "url"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return check_database_url(value)
        except DatabaseUrlError as error:
            self.fail(str(error), param, ctx)


STORE_URL = StoreUrl()
