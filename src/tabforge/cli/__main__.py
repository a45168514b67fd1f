from tabforge.cli import main

main(prog_name="tabforge")
