// Book loans with due dates, written for the codellama-lite workbook.
package workbook.samples;

import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

public final class LibraryLoans {

    public record Loan(String isbn, String member, LocalDate due) {
        public boolean isOverdue(LocalDate today) {
            return today.isAfter(due);
        }
    }

    private final List<Loan> loans = new ArrayList<>();
    private final int loanDays;

    public LibraryLoans(int loanDays) {
        if (loanDays <= 0) {
            throw new IllegalArgumentException("loanDays must be positive, got " + loanDays);
        }
        this.loanDays = loanDays;
    }

    public Loan lend(String isbn, String member, LocalDate today) {
        Optional<Loan> existing = findLoan(isbn);
        if (existing.isPresent()) {
            throw new IllegalStateException(isbn + " is already lent to " + existing.get().member());
        }
        Loan loan = new Loan(isbn, member, today.plusDays(loanDays));
        loans.add(loan);
        return loan;
    }

    public boolean giveBack(String isbn) {
        return loans.removeIf(loan -> loan.isbn().equals(isbn));
    }

    public Optional<Loan> findLoan(String isbn) {
        return loans.stream().filter(loan -> loan.isbn().equals(isbn)).findFirst();
    }

    public List<Loan> overdue(LocalDate today) {
        return loans.stream()
                .filter(loan -> loan.isOverdue(today))
                .sorted(Comparator.comparing(Loan::due))
                .toList();
    }

    public static void main(String[] args) {
        LibraryLoans library = new LibraryLoans(14);
        LocalDate start = LocalDate.of(2024, 3, 1);
        library.lend("978-0-13-468599-1", "ada", start);
        library.lend("978-1-59327-584-6", "grace", start.plusDays(5));
        for (Loan loan : library.overdue(start.plusDays(16))) {
            System.out.printf("%s is overdue (due %s, member %s)%n", loan.isbn(), loan.due(), loan.member());
        }
        System.out.println("returned: " + library.giveBack("978-0-13-468599-1"));
    }
}
