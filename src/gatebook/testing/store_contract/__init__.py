"""The contract suite every :class:`gatebook.store.base.Store` backend must pass.

Subclass :class:`StoreContract` in a test module and provide a ``store`` fixture that
yields a fresh, empty store (and closes it afterwards)::

    from gatebook.testing.store_contract import StoreContract

    class TestMyStoreContract(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore(tmp_path / "ledger")
            yield s
            s.close()

Every test here is derived from the docstrings of :mod:`gatebook.store.base` (the
contract); a backend that needs a test changed has found a gap in the contract, not in
the test. A backend may also override :meth:`StoreContract.connections_in_use` so that
the leak test can check that :meth:`Store.close` releases everything.
"""

from __future__ import annotations

from gatebook.testing.store_contract.aliases import AliasesContract
from gatebook.testing.store_contract.common import make_run
from gatebook.testing.store_contract.listing import ListingContract
from gatebook.testing.store_contract.metrics import MetricsContract
from gatebook.testing.store_contract.runs import RunsContract
from gatebook.testing.store_contract.writes import WritesContract

__all__ = ["StoreContract", "make_run"]


class StoreContract(RunsContract, ListingContract, WritesContract, MetricsContract, AliasesContract):
    """Base class of the tests every Store backend must pass. Subclasses provide ``store``."""
