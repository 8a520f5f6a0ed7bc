"""AWS Glue PySpark jobs: thin entry scripts over pure DataFrame -> DataFrame transforms."""
