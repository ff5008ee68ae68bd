/** One numbered migration, in a SQLite and a PostgreSQL variant. */
export interface Migration {
  id: number;
  name: string;
  sqlite: string[];
  postgres: string[];
}
