from e200.cli import main

main()
