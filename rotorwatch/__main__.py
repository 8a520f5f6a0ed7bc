"""`python -m rotorwatch`: the command line's second door (the console script is the first).

The one file of the core that names an adapter: it only runs as a script and nothing imports
it (the import-linter contract in pyproject.toml lists it as the one exception).
"""

from cli import main

main()
