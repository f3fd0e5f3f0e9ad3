from statservice.cli import app

app(prog_name="statservice")
