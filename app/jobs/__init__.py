"""The job runner: the jobs table, claiming and running jobs, and `flask jobs work`."""
