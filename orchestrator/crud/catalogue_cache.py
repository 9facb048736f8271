"""The catalogue's list, read at most once a second in each process.

Every person sees the same catalogue, it changes a few times a day, and it is one of the reads
that clients poll most. So each process keeps the answer of each page it served for a second
(`memo.TTL`). A template published, deprecated, quarantined or reviewed shows within that
second in every process, and at once in the process that made the change: any commit that wrote
a template, a version or a supplier empties that process's copy. Starting a trial never reads
this copy: it reads the version it names from the database.
"""

from __future__ import annotations

from pydantic import BaseModel

from orchestrator.crud.memo import Memo, forget_on_commit
from orchestrator.models import SandboxTemplate, Supplier, TemplateVersion

#: The process's pages of the catalogue, emptied by every commit that writes to it.
CATALOGUE: Memo[BaseModel] = Memo()

forget_on_commit((SandboxTemplate, TemplateVersion, Supplier), CATALOGUE.clear, name="catalogue")
