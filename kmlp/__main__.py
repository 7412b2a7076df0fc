from kmlp.cli import main

main()
