from actionlog.cli.main import main

main()
