/** The folder the compiled copies of the CLI are kept in. */
export declare const CLI_CACHE: string;
/** The bundle's entry URL (built first if the sources changed), or undefined where it cannot be had. */
export declare function cliBundle(): Promise<string | undefined>;
