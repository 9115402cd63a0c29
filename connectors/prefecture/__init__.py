"""The prefecture subscriber: permit requests into a local work queue, clerk answers back."""
