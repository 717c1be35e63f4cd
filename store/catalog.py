"""The product catalog, the price authority: what each sku is called, its price per currency, its tax class."""

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, RowMapping, func, select
from sqlalchemy.dialects.postgresql import insert

from domain.models import MAX_AMOUNT, Sku
from domain.money import CURRENCIES, known_currency, minor_units, quantize
from domain.tax import TaxClass
from store.tables import products

# a currency money is kept in (ISO 4217, not a fund, metal or testing code)
Currency = Annotated[str, Field(json_schema_extra={"enum": CURRENCIES}), AfterValidator(known_currency)]
Price = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT)]


class ProductDetails(BaseModel):
    """What an operator sets of a product: its name, a price in each currency it sells in, its tax class."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    prices: dict[Currency, Price] = Field(
        min_length=1, max_length=300, description='decimal strings per currency: {"JPY": "5000"}'
    )
    tax_class: TaxClass = "standard"

    @field_validator("prices")
    @classmethod
    def _at_the_currency_minor_units(cls, prices: dict[str, Decimal]) -> dict[str, Decimal]:
        """A price has at most its currency's decimals (JPY and KRW none); "5000.00" yen is the same 5000."""
        for currency, price in prices.items():
            if quantize(price, currency) != price:
                places = minor_units(currency)
                allowed = "none" if places == 0 else f"at most {places}"
                raise ValueError(f"the {currency} price {price} has more decimals than {currency} allows ({allowed})")
        return {currency: quantize(price, currency) for currency, price in sorted(prices.items())}


class Product(ProductDetails):
    sku: Sku
    edited_at: datetime | None = Field(default=None, description="when an operator last set it; null: the demo seed's")

    def price_in(self, currency: str) -> Decimal | None:
        return self.prices.get(currency)


class ProductCatalog:
    """The `products` table: read by checkout and exchanges, written by operators and the demo seed."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def get(self, sku: str) -> Product | None:
        return self.products([sku]).get(sku)

    def products(self, skus: Collection[str]) -> dict[str, Product]:
        """The catalog's products among these skus, by sku; a sku it does not know is absent."""
        if not skus:
            return {}
        with self._engine.connect() as conn:
            rows = conn.execute(select(products).where(products.c.sku.in_(sorted(set(skus))))).mappings().all()
        return {row["sku"]: _product(row) for row in rows}

    def unknown(self, skus: Sequence[str]) -> list[str]:
        """The skus the catalog does not know, in the order given."""
        known = self.products(skus)
        return [sku for sku in skus if sku not in known]

    def put(self, sku: str, details: ProductDetails) -> Product:
        """Create or replace the product; answers it as stored."""
        values = {
            "name": details.name,
            "prices": {currency: str(price) for currency, price in details.prices.items()},
            "tax_class": details.tax_class,
            "edited_at": func.now(),
        }
        statement = (
            insert(products)
            .values(sku=sku, **values)
            .on_conflict_do_update(index_elements=[products.c.sku], set_=values)
            .returning(*products.c)
        )
        with self._engine.begin() as conn:
            row = conn.execute(statement).mappings().one()
        return _product(row)


def _product(row: RowMapping) -> Product:
    """A stored product as it is (not validated again: a rule tightened later never hides what is stored)."""
    return Product.model_construct(
        sku=row["sku"],
        name=row["name"],
        prices={currency: Decimal(amount) for currency, amount in row["prices"].items()},
        tax_class=row["tax_class"],
        edited_at=row["edited_at"],
    )
