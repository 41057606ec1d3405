"""Framework hooks: a training framework's own logger/callback API feeding the ledger and obeying its gates.

``gatebook.integrations.lightning``, ``.transformers`` and ``.keras`` each import their framework
lazily (extras ``gatebook[lightning]`` and so on); see docs/integrations.md.
"""
