"""Yahoo Finance: prices, company information, history."""

from __future__ import annotations

from typing import Any

from kern.tools.toolkit import BuiltinToolkit


class YFinanceTools(BuiltinToolkit):
    """Stock prices, company information and historical prices from Yahoo Finance. Agno's
    flags (``stock_price=True``, ``enable_company_info=…``) are accepted."""

    toolkit = "yfinance"
    known_options = (
        "base_url",
        "timeout",
        "enable_stock_price",
        "enable_company_info",
        "enable_historical_prices",
    )

    def __init__(self, **options: Any) -> None:
        for old, new in (
            ("stock_price", "enable_stock_price"),
            ("company_info", "enable_company_info"),
            ("historical_prices", "enable_historical_prices"),
        ):
            if old in options and new not in options:
                options[new] = options.pop(old)
        super().__init__(**options)
