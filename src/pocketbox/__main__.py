from pocketbox.cli.main import main

main()
