"""The data lake: its layout, what outlives raw expiry, and the saved queries over it.

Holds the S3 prefixes, partitions and table names (:mod:`.layout`), the columns of the tables the
lake itself defines (:mod:`.schemas`), the raw-sampling rule (:mod:`.raw_keep`), the saved Athena
queries (:mod:`.query`, the SQL in ``queries/``) and how a result's cells read (:mod:`.display`). Names and pure rules only: the writers are adapters.

May import the diagnosis (the records it stores) and the contract; not alerting or deployment.
"""
