/** Who is asking, as far as the audit log is concerned: never anything secret. */
export type RequestContext = { ip: string | null };
