// Type-checked lint with layer rules: engine/ is pure, all SQL lives in store/, api/ and cli/
// never import the store.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importX from 'eslint-plugin-import-x';

const sqlOnly = 'Only src/store/ talks to the database.';

const noIo = [
  'node:fs',
  'node:fs/promises',
  'node:child_process',
  'node:net',
  'node:http',
  'fs',
  'child_process',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'import-x/no-cycle': 'error',
    },
  },
  {
    // No SQL outside src/store/: no query builder calls, no database driver (DESIGN §10).
    // The layer blocks below restate the driver ban in their own no-restricted-imports.
    files: ['src/**/*.ts'],
    ignores: ['src/store/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.type='MemberExpression'][callee.property.name=/^(selectFrom|insertInto|replaceInto|updateTable|deleteFrom|mergeInto)$/]",
          message: 'SQL belongs in src/store/: add a function there and call it.',
        },
      ],
      'no-restricted-imports': [
        'error',
        { paths: ['kysely', 'pg', 'better-sqlite3'].map((name) => ({ name, message: sqlOnly })) },
      ],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: noIo,
          patterns: [
            '**/store/**',
            '**/worker/**',
            '**/runtime/**',
            '**/api/**',
            // Node types are handed to the engine through the plan (engine/plan.ts NodeBehaviour).
            '**/nodes/**',
            'kysely',
            'pg',
            'better-sqlite3',
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Inject the clock.' },
      ],
    },
  },
  {
    // The workflow model is pure and knows no node type: validation is handed the registry.
    files: ['src/definition/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: noIo,
          patterns: [
            '**/engine/**',
            '**/nodes/**',
            '**/store/**',
            '**/worker/**',
            '**/runtime/**',
            '**/services/**',
            '**/api/**',
            'kysely',
            'pg',
            'better-sqlite3',
          ],
        },
      ],
    },
  },
  {
    files: ['src/api/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['**/store/**', 'kysely', 'pg', 'better-sqlite3'] },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
);
