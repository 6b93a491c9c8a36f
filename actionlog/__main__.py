from actionlog.cli.main import main

if __name__ == "__main__":  # not when a normalizer process (multiprocessing's spawn) imports it
    main()
